"""A small text overlay (fps, latency, errors) drawn over the output.

The text is set from glyphs that Pillow draws once each (a line that did not change is reused
whole), uploaded as a texture and blended over the target's top-left corner.  Drawing a dozen
lines with Pillow every time costs ~10 ms on a laptop CPU, a visible hitch; composing cached
glyphs with numpy costs well under a millisecond.  The texture is only rebuilt when the lines
change, and `min_interval` keeps a changing fps figure from doing it every frame.
"""

from __future__ import annotations

import math
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


def _stack(text: np.ndarray, picture: np.ndarray, pad: int, bg: int) -> np.ndarray:
    """The text box with the picture to its right, top-aligned, on the same translucent black
    (beside, not under: a long overlay is cut at the bottom of a small output, not the picture)."""
    th, tw = text.shape[:2]
    ph, pw = picture.shape[:2]
    out = np.zeros((max(th, ph + 2 * pad), tw + pw + pad + (0 if tw else pad), 4), np.uint8)
    out[..., 3] = bg
    out[:th, :tw] = text
    x = tw if tw else pad
    out[pad:pad + ph, x:x + pw] = picture
    return out


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
        ascent, descent = self.font.getmetrics()
        self._line_h = int(ascent + descent)
        self._glyphs: dict[str, tuple[np.ndarray, int]] = {}
        self._line_cache: dict[str, np.ndarray] = {}
        self.program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=_FRAGMENT)
        self.vao = ctx.vertex_array(self.program, [])
        self.texture: moderngl.Texture | None = None
        self._lines: tuple[str, ...] | None = None
        self._built_at = -1e9
        self.visible = True

    def toggle(self) -> None:
        self.visible = not self.visible

    PAD = 6
    SPACING = 3
    BACKGROUND_ALPHA = 150

    def _glyph(self, ch: str) -> tuple[np.ndarray, int]:
        """(alpha mask (line height, w), advance) of one character, drawn once."""
        g = self._glyphs.get(ch)
        if g is None:
            from PIL import Image, ImageDraw
            advance = max(0, int(math.ceil(self.font.getlength(ch))))
            img = Image.new("L", (advance + 3, self._line_h))  # room for overhangs (f, j, italics)
            ImageDraw.Draw(img).text((0, 0), ch, font=self.font, fill=255)
            g = (np.asarray(img), advance)
            self._glyphs[ch] = g
        return g

    def _line_mask(self, line: str) -> np.ndarray:
        mask = self._line_cache.get(line)
        if mask is None:
            glyphs = [self._glyph(ch) for ch in line]
            width = sum(adv for _, adv in glyphs) + 3
            mask = np.zeros((self._line_h, max(width, 1)), np.uint8)
            x = 0
            for g, adv in glyphs:
                if g.any():
                    view = mask[:, x:x + g.shape[1]]
                    np.maximum(view, g[:, :view.shape[1]], out=view)
                x += adv
            if len(self._line_cache) > 256:
                self._line_cache.clear()
            self._line_cache[line] = mask
        return mask

    def _render_text(self, lines: Sequence[str]) -> np.ndarray:
        """(h, w, 4) uint8 RGBA, top row first: white text on a translucent black box."""
        masks = [self._line_mask(line) for line in lines]
        pad, step = self.PAD, self._line_h + self.SPACING
        w = max(m.shape[1] for m in masks) + 2 * pad
        h = len(masks) * step - self.SPACING + 2 * pad
        alpha = np.zeros((h, w), np.uint8)
        for i, m in enumerate(masks):
            y = pad + i * step
            alpha[y:y + m.shape[0], pad:pad + m.shape[1]] = m
        rgba = np.empty((h, w, 4), np.uint8)
        rgba[..., 0] = rgba[..., 1] = rgba[..., 2] = alpha
        bg = self.BACKGROUND_ALPHA
        rgba[..., 3] = bg + (alpha.astype(np.uint16) * (255 - bg) // 255).astype(np.uint8)
        return rgba

    def update(self, lines: Sequence[str], force: bool = False, picture: np.ndarray | None = None) -> None:
        """Set the text; `picture` ((h, w, 4) uint8 RGBA, top row first: the atlas minimap) is
        drawn beside it, in the same box (it changes with the text, so it is always redrawn)."""
        lines = tuple(str(x) for x in lines)
        now = time.monotonic()
        if picture is None and (lines == self._lines or (not force and self._lines is not None
                                                         and now - self._built_at < self.min_interval)):
            return
        self._lines, self._built_at = (None if picture is not None else lines), now
        if self.texture is not None:
            self.texture.release()
            self.texture = None
        if not lines and picture is None:
            return
        rgba = self._render_text(lines) if lines else np.zeros((0, 0, 4), np.uint8)
        if picture is not None:
            rgba = _stack(rgba, np.asarray(picture, np.uint8), self.PAD, self.BACKGROUND_ALPHA)
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
