// Video feedback: the new frame over a zoomed, rotated copy of the chain's last output.
// amount = 0 gives the frame unchanged.
uniform float amount; // @param default=0.6 min=0 max=0.98 "how much of the last frame stays (0 = no trails)"
uniform float zoom;   // @param default=1.01 min=0.9 max=1.1 "scale of the last frame each step (>1: trails stream outward)"
uniform float rotate; // @param default=0 min=-0.1 max=0.1 "turn of the last frame each step, radians"
uniform float glow;   // @param default=0 min=0 max=1 "0 = echo (blend with the trails), 1 = light painting (the new frame stays bright, trails fade behind it)"

void main() {
    vec3 frame = texture(u_tex, v_uv).rgb;
    // rotate and zoom about the centre in square pixels, whatever the aspect ratio
    vec2 aspect = vec2(u_resolution.x / u_resolution.y, 1.0);
    vec2 p = (v_uv - 0.5) * aspect;
    float c = cos(rotate), s = sin(rotate);
    p = mat2(c, -s, s, c) * p / max(zoom, 1e-3);
    vec2 uv = p / aspect + 0.5;
    // what comes in from beyond the edge is black, not a smear of the border pixels
    vec2 edge = smoothstep(0.0, 0.01, uv) * smoothstep(0.0, 0.01, 1.0 - uv);
    vec3 last = texture(u_prev, uv).rgb * edge.x * edge.y;
    vec3 echo = mix(frame, last, amount);
    vec3 paint = max(frame, last * amount);
    f_color = vec4(mix(echo, paint, glow), 1.0);
}
