"""A small picture of the output, read back without waiting for the GPU.

`surface.read_pixels()` stops the tick until the GPU has finished the frame and copies the whole
output (at 720p on a software renderer that wait was ~40 ms here).  A preview needs neither:
`ScaledReadback.take(texture)` draws the texture into a small framebuffer (four bilinear taps
per pixel, a box filter for downscales up to 4x) and starts copying it into a pixel buffer;
`result()` on a later tick maps that buffer, by then long filled, and gives (h, w, 3) uint8,
top row first.  Both only queue GL commands or copy a few hundred KB.
"""

from __future__ import annotations

import moderngl
import numpy as np

_FRAGMENT = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_tex;
uniform vec2 u_step;   // a quarter of one destination pixel, in source uv
void main() {
    vec3 c = texture(u_tex, v_uv + vec2(-u_step.x, -u_step.y)).rgb
           + texture(u_tex, v_uv + vec2( u_step.x, -u_step.y)).rgb
           + texture(u_tex, v_uv + vec2(-u_step.x,  u_step.y)).rgb
           + texture(u_tex, v_uv + vec2( u_step.x,  u_step.y)).rgb;
    f_color = vec4(c * 0.25, 1.0);
}
"""


class ScaledReadback:
    def __init__(self, ctx: moderngl.Context, width: int) -> None:
        from .shaders import VERTEX_SHADER
        self.ctx = ctx
        self.width = int(width)
        self.program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=_FRAGMENT)
        self.program["u_tex"].value = 0
        self.vao = ctx.vertex_array(self.program, [])
        self._target: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._buffer: moderngl.Buffer | None = None
        self._pending: tuple[int, int] | None = None

    @property
    def pending(self) -> bool:
        return self._pending is not None

    def _size_for(self, size: tuple[int, int]) -> tuple[int, int]:
        sw, sh = size
        w = min(self.width, sw)
        return w, max(1, round(sh * w / sw))

    def take(self, texture: moderngl.Texture) -> None:
        """Start reading a scaled copy of `texture` (replaces a take not yet collected)."""
        w, h = self._size_for(texture.size)
        if self._target is None or self._target[0].size != (w, h):
            self._release_target()
            from .shaders import render_target
            self._target = render_target(self.ctx, (w, h))
            self._buffer = self.ctx.buffer(reserve=w * h * 3)
        tex, fbo = self._target
        previous = self.ctx.fbo
        fbo.use()
        fbo.viewport = (0, 0, w, h)
        self.ctx.disable(moderngl.BLEND)
        self.program["u_step"].value = (0.25 / w, 0.25 / h)
        texture.use(0)
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        fbo.read_into(self._buffer, viewport=(0, 0, w, h), components=3, alignment=1)
        if previous is not None:
            previous.use()
        self._pending = (w, h)

    def result(self) -> np.ndarray | None:
        """The pixels of the last take ((h, w, 3) uint8, top row first), or None if none waits."""
        if self._pending is None:
            return None
        w, h = self._pending
        self._pending = None
        data = self._buffer.read(size=w * h * 3)
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1]

    def _release_target(self) -> None:
        if self._target is not None:
            self._target[1].release()
            self._target[0].release()
            self._target = None
        if self._buffer is not None:
            self._buffer.release()
            self._buffer = None

    def release(self) -> None:
        self._release_target()
        self.vao.release()
        self.program.release()
