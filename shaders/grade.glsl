// Colour grade: exposure, contrast, saturation, hue.  Neutral at the defaults.
#include "common/color.glsl"

uniform float exposure;   // @param default=0 min=-4 max=4 "brightness in photographic stops (+1 = twice as bright)"
uniform float contrast;   // @param default=1 min=0 max=2 "contrast about mid grey (1 = unchanged)"
uniform float saturation; // @param default=1 min=0 max=2 "colour intensity (0 = grey, 1 = unchanged)"
uniform float hue;        // @param default=0 min=-0.5 max=0.5 "hue rotation in turns"

void main() {
    vec3 c = texture(u_tex, v_uv).rgb;
    c *= exp2(exposure);
    c = (c - 0.5) * contrast + 0.5;
    c = mix(vec3(luma(c)), c, saturation);
    c = hue_rotate(c, hue);
    f_color = vec4(clamp(c, 0.0, 1.0), 1.0);
}
