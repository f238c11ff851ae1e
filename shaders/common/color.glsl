// Colour helpers shared by passes (include this file by its path under shaders/).

const vec3 LUMA = vec3(0.2126, 0.7152, 0.0722);  // Rec. 709

float luma(vec3 c) {
    return dot(c, LUMA);
}

// Rotate the hue by `turns` (1 = a full circle) about the grey axis, keeping luma roughly.
vec3 hue_rotate(vec3 c, float turns) {
    float a = turns * 6.28318530718;
    vec3 k = vec3(0.57735026919);  // (1,1,1) / sqrt(3)
    float cs = cos(a);
    // Rodrigues' rotation of the colour vector about k
    return c * cs + cross(k, c) * sin(a) + k * dot(k, c) * (1.0 - cs);
}
