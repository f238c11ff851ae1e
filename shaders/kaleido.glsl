// Kaleidoscope: folds the picture into mirrored wedges around the centre.
uniform float segments; // @param default=6 min=2 max=16 "number of mirrored wedges"
uniform float spin;     // @param default=0.05 min=-1 max=1 "rotation speed, turns per beat"
uniform float amount;   // @param default=1 min=0 max=1 "blend with the unfolded picture (0 = off)"

const float TAU = 6.28318530718;

void main() {
    vec3 plain = texture(u_tex, v_uv).rgb;
    vec2 aspect = vec2(u_resolution.x / u_resolution.y, 1.0);
    vec2 p = (v_uv - 0.5) * aspect;
    float r = length(p);
    float wedge = TAU / max(floor(segments + 0.5), 1.0);
    float a = atan(p.y, p.x) + spin * u_beat * TAU;
    a = mod(a, wedge);
    a = min(a, wedge - a);  // mirror every other half-wedge so the seams match
    vec2 q = vec2(cos(a), sin(a)) * r;
    vec2 uv = q / aspect + 0.5;
    // a triangle wave keeps far-out radii inside the picture, mirrored
    uv = 1.0 - abs(1.0 - mod(uv, 2.0));
    vec3 folded = texture(u_tex, uv).rgb;
    f_color = vec4(mix(plain, folded, amount), 1.0);
}
