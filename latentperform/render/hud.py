"""A small text overlay (fps, latency, errors) drawn over the output.

The text is drawn by Pillow into an RGBA image, uploaded as a texture and blended over the
target's top-left corner.  Redrawing text costs a millisecond or so, so the texture is only
rebuilt when the lines change, and `min_interval` keeps a changing fps figure from doing it
every frame.
"""

from __future__ import annotations

import time
from typing import Sequence

import moderngl
import numpy as np

from .shaders import VERTEX_SHADER

_FRAGMENT = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_text;
void main() {
    f_color = texture(u_text, vec2(v_uv.x, 1.0 - v_uv.y));  // the image's top row first
}
"""


class Hud:
    """`draw(lines, target, viewport)` after the chain, before present()."""

    def __init__(self, ctx: moderngl.Context, font_size: int = 14, margin: int = 8,
                 min_interval: float = 0.25) -> None:
        from PIL import ImageFont

        self.ctx = ctx
        self.margin = margin
        self.min_interval = min_interval
        try:
            self.font = ImageFont.load_default(size=font_size)  # Pillow >= 10.1 with FreeType
        except TypeError:
            self.font = ImageFont.load_default()
        self.program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=_FRAGMENT)
        self.vao = ctx.vertex_array(self.program, [])
        self.texture: moderngl.Texture | None = None
        self._lines: tuple[str, ...] | None = None
        self._built_at = -1e9
        self.visible = True

    def toggle(self) -> None:
        self.visible = not self.visible

    def _render_text(self, lines: Sequence[str]) -> np.ndarray:
        from PIL import Image, ImageDraw

        probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
        text = "\n".join(lines)
        left, top, right, bottom = probe.multiline_textbbox((0, 0), text, font=self.font, spacing=3)
        pad = 6
        w, h = max(1, right - min(left, 0) + 2 * pad), max(1, bottom - min(top, 0) + 2 * pad)
        image = Image.new("RGBA", (w, h), (0, 0, 0, 150))
        ImageDraw.Draw(image).multiline_text((pad - min(left, 0), pad - min(top, 0)), text,
                                             font=self.font, fill=(255, 255, 255, 255), spacing=3)
        return np.asarray(image)

    def update(self, lines: Sequence[str], force: bool = False) -> None:
        lines = tuple(str(x) for x in lines)
        now = time.monotonic()
        if lines == self._lines or (not force and self._lines is not None and now - self._built_at < self.min_interval):
            return
        self._lines, self._built_at = lines, now
        if self.texture is not None:
            self.texture.release()
            self.texture = None
        if not lines:
            return
        rgba = self._render_text(lines)
        h, w = rgba.shape[:2]
        self.texture = self.ctx.texture((w, h), 4, np.ascontiguousarray(rgba), alignment=1)
        self.texture.filter = (moderngl.NEAREST, moderngl.NEAREST)

    def draw(self, lines: Sequence[str] | None, target: moderngl.Framebuffer,
             viewport: tuple[int, int, int, int]) -> None:
        if lines is not None:
            self.update(lines)
        if not self.visible or self.texture is None:
            return
        x, y, vw, vh = viewport
        w, h = self.texture.size
        w, h = min(w, vw - self.margin), min(h, vh - self.margin)
        if w <= 0 or h <= 0:
            return
        target.use()
        target.viewport = (x + self.margin, y + vh - self.margin - h, w, h)
        self.ctx.enable(moderngl.BLEND)
        self.ctx.blend_func = moderngl.SRC_ALPHA, moderngl.ONE_MINUS_SRC_ALPHA
        self.texture.use(0)
        self.vao.render(moderngl.TRIANGLES, vertices=3)
        self.ctx.disable(moderngl.BLEND)
        target.viewport = viewport

    def release(self) -> None:
        if self.texture is not None:
            self.texture.release()
        self.vao.release()
        self.program.release()
