"""Frames into a GL texture: the one place render touches torch (lazily, only for tensors)."""

from __future__ import annotations

import sys

import moderngl
import numpy as np


def _to_numpy(pixels) -> np.ndarray:
    """(H, W, 3) uint8 numpy, top row first, from numpy or a torch uint8 tensor (any device)."""
    if isinstance(pixels, np.ndarray):
        return pixels
    torch = sys.modules.get("torch")  # a tensor can only exist if torch is already imported
    if torch is not None and isinstance(pixels, torch.Tensor):
        return pixels.detach().to("cpu").contiguous().numpy()
    raise TypeError(f"a frame must be a uint8 (H, W, 3) numpy array or torch tensor, got {type(pixels).__name__}")


class FrameTexture:
    """A texture that holds the newest generated frame.

    `upload(pixels)` takes (H, W, 3) uint8, top row first, and stores it the GL way (bottom row
    first) so every pass samples it with the same uv as the framebuffers it draws into.  The
    texture is reallocated only when the frame size changes; it filters linearly, so a 256x256
    frame is upscaled smoothly by the GPU.  Before the first upload it holds one black pixel.
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.texture = self._make((1, 1))
        self.texture.write(bytes(3))
        self.uploads = 0

    def _make(self, size: tuple[int, int]) -> moderngl.Texture:
        tex = self.ctx.texture(size, 3, alignment=1)
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        return tex

    @property
    def size(self) -> tuple[int, int]:
        return self.texture.size

    def upload(self, pixels) -> None:
        array = _to_numpy(pixels)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"a frame must be uint8 (H, W, 3), got {array.dtype} {array.shape}")
        h, w = array.shape[:2]
        if (w, h) != self.texture.size:
            self.texture.release()
            self.texture = self._make((w, h))
        # Flip to GL row order; the copy is also what makes a strided view contiguous.
        self.texture.write(np.ascontiguousarray(array[::-1]))
        self.uploads += 1

    def release(self) -> None:
        self.texture.release()
