"""Frames into a GL texture: the one place render touches torch (lazily, only for tensors)."""

from __future__ import annotations

import sys
import time

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

    Host frames go through a pixel buffer that is orphaned before each write: the driver copies
    into fresh storage and moves it to the texture asynchronously, so the render thread never
    waits for the previous frame's transfer.  CUDA frames skip the host (render/interop.py).
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        self.ctx = ctx
        self.texture = self._make((1, 1))
        self.texture.write(bytes(3))
        self.uploads = 0
        # which path the frames took and what it cost the render thread (bench/gpu.sh reports it)
        self.path_counts = {"cuda-gl": 0, "host": 0}
        self.path_seconds = {"cuda-gl": 0.0, "host": 0.0}
        self._cuda = None          # render/interop.CudaGLUploader, made on the first CUDA frame
        self._cuda_tried = False
        self._pbo: moderngl.Buffer | None = None

    def _make(self, size: tuple[int, int]) -> moderngl.Texture:
        tex = self.ctx.texture(size, 3, alignment=1)
        tex.filter = (moderngl.LINEAR, moderngl.LINEAR)
        tex.repeat_x = tex.repeat_y = False
        return tex

    @property
    def size(self) -> tuple[int, int]:
        return self.texture.size

    def upload(self, pixels, tensor=None) -> None:
        """pixels: (H, W, 3) uint8, top row first.  tensor: the same picture on a CUDA device,
        bottom row first (models.worker.Frame.tensor); when CUDA-OpenGL interop works it goes
        straight from the GPU into the texture and `pixels` is not read."""
        t0 = time.perf_counter()
        if tensor is not None and getattr(tensor, "is_cuda", False) and self._upload_cuda(tensor):
            self._count("cuda-gl", t0)
            return
        array = _to_numpy(pixels)
        if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"a frame must be uint8 (H, W, 3), got {array.dtype} {array.shape}")
        h, w = array.shape[:2]
        if (w, h) != self.texture.size:
            self.texture.release()
            self.texture = self._make((w, h))
        # Flip to GL row order; the copy is also what makes a strided view contiguous.
        rows = np.ascontiguousarray(array[::-1])
        if self._pbo is None or self._pbo.size != rows.nbytes:
            if self._pbo is not None:
                self._pbo.release()
            self._pbo = self.ctx.buffer(reserve=rows.nbytes, dynamic=True)
        else:
            self._pbo.orphan()  # new storage: no wait for the transfer still reading the old one
        self._pbo.write(rows)
        self.texture.write(self._pbo, alignment=1)
        self.uploads += 1
        self._count("host", t0)

    def _count(self, path: str, t0: float) -> None:
        self.path_counts[path] += 1
        self.path_seconds[path] += time.perf_counter() - t0

    def path_summary(self) -> str:
        """Which upload path the frames took and its cost on the render thread, in one line:
        "CUDA-GL interop, 0.05 ms/frame (600 frames)", "host, 1.9 ms/frame (...)", or both."""
        parts = []
        for path, name in (("cuda-gl", "CUDA-GL interop"), ("host", "host")):
            n = self.path_counts[path]
            if n:
                parts.append(f"{name}, {self.path_seconds[path] / n * 1e3:.2f} ms/frame ({n} frames)")
        return "; ".join(parts) or "no frames"

    def _upload_cuda(self, tensor) -> bool:
        if not self._cuda_tried:
            self._cuda_tried = True
            from .interop import CudaGLUploader
            self._cuda = CudaGLUploader.create(self.ctx)  # None, with one log line, when it cannot
        if self._cuda is None:
            return False
        h, w = int(tensor.shape[0]), int(tensor.shape[1])
        if (w, h) != self.texture.size:
            self.texture.release()
            self.texture = self._make((w, h))
        if self._cuda.upload(self.texture, tensor, bottom_first=True):
            self.uploads += 1
            return True
        return False

    def abandon(self) -> None:
        """The GL context is lost: free what is not GL (the CUDA side of the interop); the
        texture and buffers went with the context."""
        if self._cuda is not None:
            self._cuda.abandon()
            self._cuda = None

    def release(self) -> None:
        if self._cuda is not None:
            self._cuda.release()
        if self._pbo is not None:
            self._pbo.release()
        self.texture.release()


_BLEND_FRAGMENT = """#version 330 core
in vec2 v_uv;
out vec4 f_color;
uniform sampler2D u_from;
uniform sampler2D u_to;
uniform float u_mix;
void main() {
    f_color = vec4(mix(texture(u_from, v_uv).rgb, texture(u_to, v_uv).rgb, u_mix), 1.0);
}
"""


class FrameBlend:
    """In-between frames for a generator slower than the display: a crossfade from the picture
    that was on screen when the newest frame arrived to that newest frame.

        blend.arrived(newest)              the newest frame's texture is about to be overwritten
                                           with a new frame: keep what is on screen now
        source = blend.source(newest, mix) per display frame: the picture to show (`newest`
                                           itself at mix >= 1: no extra pass)

    The snapshot is what was *shown*, not the previous generator frame, so a frame that arrives
    before the last crossfade finished goes on from where the picture stands: no jump.  The
    first frame fades in from the black the texture starts with.  Buffers are RGBA8, made on
    first use; the snapshot keeps its own size, so a frame of another size blends too.
    """

    def __init__(self, ctx: moderngl.Context) -> None:
        from .shaders import VERTEX_SHADER

        self.ctx = ctx
        self.program = ctx.program(vertex_shader=VERTEX_SHADER, fragment_shader=_BLEND_FRAGMENT)
        self.program["u_from"].value = 0
        self.program["u_to"].value = 1
        self.vao = ctx.vertex_array(self.program, [])
        self._snap: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._out: tuple[moderngl.Texture, moderngl.Framebuffer] | None = None
        self._has_snapshot = False
        self.mix = 1.0  # the mix of the last picture given out by source()
        self.blends = 0  # frames drawn by the blend pass

    def _buffer(self, buf, size: tuple[int, int]):
        if buf is not None and buf[0].size == tuple(size):
            return buf
        if buf is not None:
            buf[1].release()
            buf[0].release()
        from .shaders import render_target
        return render_target(self.ctx, size)

    def _draw(self, a: moderngl.Texture, b: moderngl.Texture, mix: float, buf) -> None:
        tex, fbo = buf
        fbo.use()
        fbo.viewport = (0, 0, *tex.size)
        self.ctx.disable(moderngl.BLEND)
        self.program["u_mix"].value = float(min(max(mix, 0.0), 1.0))
        a.use(0)
        b.use(1)
        self.vao.render(moderngl.TRIANGLES, vertices=3)

    def arrived(self, newest: moderngl.Texture) -> None:
        """Call before a new frame replaces `newest`'s contents."""
        if self._has_snapshot and self.mix < 1.0 and self._out is not None:
            self._snap, self._out = self._out, self._snap  # the last blend is what is on screen
        else:
            self._snap = self._buffer(self._snap, newest.size)
            self._draw(newest, newest, 1.0, self._snap)  # a copy of the frame on screen
        self._has_snapshot = True
        self.mix = 0.0

    def source(self, newest: moderngl.Texture, mix: float) -> moderngl.Texture:
        """The picture to show: the snapshot crossfaded toward `newest` by mix (0..1)."""
        if mix >= 1.0 or not self._has_snapshot:
            self.mix = 1.0
            return newest
        self.mix = max(float(mix), 0.0)
        self._out = self._buffer(self._out, newest.size)
        self._draw(self._snap[0], newest, self.mix, self._out)
        self.blends += 1
        return self._out[0]

    def reset(self) -> None:
        """Forget the snapshot: the next picture is shown as it is."""
        self._has_snapshot = False
        self.mix = 1.0

    def release(self) -> None:
        for buf in (self._snap, self._out):
            if buf is not None:
                buf[1].release()
                buf[0].release()
        self._snap = self._out = None
        self.vao.release()
        self.program.release()
