// The output blit: draws the chain's picture into the window / video frame at its own size,
// keeping the picture's aspect ratio.  Always the last pass.
uniform float fit; // @param default=0 min=0 max=2 "0 = letterbox/pillarbox (all of the picture), 1 = fill and crop, 2 = stretch"

void main() {
    // aspect ratios as cross products, so no division by a zero size
    vec2 a = vec2(u_tex_resolution.x * u_resolution.y, u_tex_resolution.y * u_resolution.x);
    vec2 contain = vec2(min(1.0, a.x / a.y), min(1.0, a.y / a.x));
    vec2 cover = vec2(max(1.0, a.x / a.y), max(1.0, a.y / a.x));
    int mode = int(fit + 0.5);
    vec2 scale = mode == 0 ? contain : (mode == 1 ? cover : vec2(1.0));
    vec2 uv = (v_uv - 0.5) / scale + 0.5;
    // half a pixel of tolerance so the picture's edge rows are not lost to rounding
    vec2 tol = 0.5 / u_resolution;
    bool inside = all(greaterThanEqual(uv, -tol)) && all(lessThanEqual(uv, 1.0 + tol));
    vec3 c = inside ? texture(u_tex, clamp(uv, 0.0, 1.0)).rgb : vec3(0.0);
    f_color = vec4(clamp(c, 0.0, 1.0) * (1.0 - clamp(u_blackout, 0.0, 1.0)), 1.0);
}
