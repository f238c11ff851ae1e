// Chromatic aberration: red and blue pulled apart radially, optionally kicking on the beat.
uniform float amount; // @param default=0.004 min=0 max=0.03 "split between the colour channels, fraction of the height"
uniform float pulse;  // @param default=0 min=0 max=1 "extra split at each beat, decaying over the beat"

void main() {
    vec2 aspect = vec2(u_resolution.x / u_resolution.y, 1.0);
    vec2 d = (v_uv - 0.5) * aspect;
    float kick = pulse * exp(-6.0 * u_beat_phase);
    vec2 off = d * (amount + 0.03 * kick) / aspect;
    float r = texture(u_tex, v_uv + off).r;
    float g = texture(u_tex, v_uv).g;
    float b = texture(u_tex, v_uv - off).b;
    f_color = vec4(r, g, b, 1.0);
}
