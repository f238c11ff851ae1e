"""CUDA-OpenGL interop, on a machine without a GPU.

The CUDA path itself (registering a PBO with a real driver, a device-to-device copy) is NOT
tested here: there is no NVIDIA GPU.  What is tested: the decisions (which context, which frame),
the fallback with its one log line, the ctypes signatures against a real libcudart when one can
be found (LP_CUDART=/path/to/libcudart.so.12, e.g. from the nvidia-cuda-runtime-cu12 wheel), and
the GL half of the path (PBO -> texture, row order, re-registration on a size change, turning
itself off after an error) with `HostMemoryRuntime`, a test double that stands in for CUDA with
host memory.
"""

from __future__ import annotations

import ctypes
import logging

import numpy as np
import pytest

from latentperform.render import interop
from latentperform.render.interop import (CudaGLUploader, CudaRuntime, InteropUnavailable, context_reason,
                                          load_cudart, tensor_reason)


@pytest.fixture(autouse=True)
def fresh_log_once(monkeypatch):
    monkeypatch.setattr(interop, "_logged", set())
    monkeypatch.delenv(interop.ENV_SWITCH, raising=False)


class FakeCudaTensor:
    """A test double for a torch CUDA uint8 tensor, backed by host memory (numpy)."""

    is_cuda = True
    dtype = "torch.uint8"

    class device:
        index = 0

    def __init__(self, array: np.ndarray) -> None:
        self.array = np.ascontiguousarray(array)
        self.shape = self.array.shape

    def is_contiguous(self) -> bool:
        return True

    def data_ptr(self) -> int:
        return self.array.ctypes.data


class HostMemoryRuntime:
    """A test double for CudaRuntime: 'device memory' is host memory, and unmapping a buffer
    writes what was copied into the GL buffer (what the driver's mapping does for real)."""

    def __init__(self, ctx, fail_copy: bool = False) -> None:
        self.ctx = ctx
        self.fail_copy = fail_copy
        self.buffers: dict[int, tuple[int, ctypes.Array]] = {}  # resource -> (gl name, host bytes)
        self.registered: list[int] = []
        self.unregistered: list[int] = []
        self.mapped: set[int] = set()
        self.copies = 0
        self._next = 1

    def register_buffer(self, gl_buffer: int) -> int:
        size = self._gl_buffer(gl_buffer).size
        res, self._next = self._next, self._next + 1
        self.buffers[res] = (gl_buffer, (ctypes.c_ubyte * size)())
        self.registered.append(gl_buffer)
        return res

    def _gl_buffer(self, glo: int):
        return next(b for b in self.live_buffers if b.glo == glo)

    live_buffers: list = []

    def unregister(self, resource: int) -> None:
        assert resource not in self.mapped
        self.unregistered.append(self.buffers.pop(resource)[0])

    def map(self, resource: int, stream: int) -> tuple[int, int]:
        self.mapped.add(resource)
        host = self.buffers[resource][1]
        return ctypes.addressof(host), ctypes.sizeof(host)

    def unmap(self, resource: int, stream: int) -> None:
        self.mapped.discard(resource)
        glo, host = self.buffers[resource]
        self._gl_buffer(glo).write(bytes(host))

    def copy_device_to_device(self, dst: int, src: int, nbytes: int, stream: int) -> None:
        assert stream == 77
        self.copies += 1
        if self.fail_copy:
            raise InteropUnavailable("cudaMemcpyAsync: an illegal memory access was encountered (CUDA error 700)")
        ctypes.memmove(dst, src, nbytes)

    def synchronize(self, stream: int) -> None:
        assert stream == 77  # the uploader's own stream, never the legacy default one

    def create_stream(self) -> int:
        return 77

    def destroy_stream(self, stream: int) -> None:
        self.destroyed = stream


@pytest.fixture
def uploader_on_host(gl, monkeypatch):
    """A CudaGLUploader on the real GL context, its CUDA side replaced by HostMemoryRuntime."""
    rt = HostMemoryRuntime(gl)
    made = []
    real_buffer = gl.buffer

    class Ctx:  # records the buffers the uploader makes, so the double can find them by name
        info = gl.info

        def buffer(self, *a, **k):
            b = real_buffer(*a, **k)
            made.append(b)
            return b

    rt.live_buffers = made
    up = CudaGLUploader(Ctx(), rt, [0])
    yield up, rt
    up.release()
    assert rt.destroyed == 77


def _picture(h=5, w=7, c=3) -> np.ndarray:
    return (np.arange(h * w * c, dtype=np.uint32).reshape(h, w, c) * 7 % 251).astype(np.uint8)


def _texture_rows(tex) -> np.ndarray:
    w, h = tex.size
    return np.frombuffer(tex.read(alignment=1), np.uint8).reshape(h, w, tex.components)


# -- decisions ----------------------------------------------------------------------------------------------


def test_a_mesa_context_is_not_for_cuda(gl):
    reason = context_reason(gl.info)
    assert reason is not None and reason.endswith("not on an NVIDIA GPU")
    assert "llvmpipe" in reason.lower() or "mesa" in reason.lower()
    assert context_reason({"GL_VENDOR": "NVIDIA Corporation", "GL_RENDERER": "NVIDIA H200/PCIe/SSE2"}) is None


def test_the_switch_turns_it_off(monkeypatch):
    monkeypatch.setenv(interop.ENV_SWITCH, "0")
    assert context_reason({"GL_VENDOR": "NVIDIA Corporation"}) == "turned off (LP_CUDA_GL_INTEROP=0)"


def test_which_frames_can_go_through():
    torch = pytest.importorskip("torch")
    assert tensor_reason(torch.zeros(4, 4, 3, dtype=torch.uint8)) == "the frame is not on a CUDA device"
    assert tensor_reason(np.zeros((4, 4, 3), np.uint8)) == "the frame is not on a CUDA device"
    assert tensor_reason(FakeCudaTensor(np.zeros((4, 4, 3), np.uint8))) is None
    assert tensor_reason(FakeCudaTensor(np.zeros((4, 4, 4), np.uint8))) is None
    bad = FakeCudaTensor(np.zeros((4, 4, 2), np.uint8))
    assert tensor_reason(bad) == "the frame's shape is (4, 4, 2), not (H, W, 3|4)"
    half = FakeCudaTensor(np.zeros((4, 4, 3), np.uint8))
    half.dtype = "torch.float16"
    assert tensor_reason(half) == "the frame is torch.float16, not uint8"


# -- the fallback ---------------------------------------------------------------------------------------------


def test_without_a_gpu_create_falls_back_with_one_log_line(gl, caplog):
    caplog.set_level(logging.INFO, logger="latentperform.render")
    assert CudaGLUploader.create(gl) is None
    assert CudaGLUploader.create(gl) is None  # a second texture: no second line
    lines = [r.getMessage() for r in caplog.records if "interop" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("CUDA-OpenGL interop off: ")
    assert lines[0].endswith("; frames are uploaded through host memory")


def test_no_libcudart_is_a_reason(monkeypatch, caplog):
    caplog.set_level(logging.INFO, logger="latentperform.render")
    monkeypatch.setattr(interop, "_candidates", lambda: ["/nonexistent/libcudart.so.12"])
    with pytest.raises(InteropUnavailable, match=r"^no CUDA runtime library \(libcudart\) found$"):
        load_cudart()

    class NvidiaContext:
        info = {"GL_VENDOR": "NVIDIA Corporation", "GL_RENDERER": "NVIDIA H200"}

    assert CudaGLUploader.create(NvidiaContext()) is None
    assert caplog.records[-1].getMessage() == ("CUDA-OpenGL interop off: no CUDA runtime library (libcudart) "
                                               "found; frames are uploaded through host memory")


def test_real_libcudart_signatures_resolve():
    try:
        lib, path = load_cudart()
    except InteropUnavailable:
        pytest.skip("no libcudart here (set LP_CUDART to one, e.g. from the nvidia-cuda-runtime-cu12 wheel)")
    rt = CudaRuntime(lib, path)  # every function the interop calls exists, with its argtypes set
    for name in interop._SIGNATURES:
        assert getattr(lib, name).restype is ctypes.c_int
    assert rt.error_string(0) == "no error"
    try:
        n = rt.device_count()
    except InteropUnavailable as e:  # no GPU or no driver: the error comes back as words
        assert str(e).startswith("cudaGetDeviceCount: ") and "CUDA error" in str(e)
    else:
        assert n >= 0


# -- the GL half, with host memory standing in for CUDA ---------------------------------------------------


def test_frames_land_in_the_texture_bottom_row_first(gl, uploader_on_host):
    up, rt = uploader_on_host
    pic = _picture()
    tex = gl.texture((7, 5), 3, alignment=1)
    assert up.upload(tex, FakeCudaTensor(pic))
    assert np.array_equal(_texture_rows(tex), pic[::-1])  # as FrameTexture stores frames
    pic2 = 255 - pic
    assert up.upload(tex, FakeCudaTensor(pic2))
    assert np.array_equal(_texture_rows(tex), pic2[::-1])
    assert len(rt.registered) == 1 and up.uploads == 2  # one registered buffer for every frame
    assert rt.copies == 2 * 5  # top row first: flipped row by row while copying
    rt.copies = 0
    assert up.upload(tex, FakeCudaTensor(np.ascontiguousarray(pic[::-1])), bottom_first=True)
    assert np.array_equal(_texture_rows(tex), pic[::-1]) and rt.copies == 1  # one copy
    # RGBA frames into an RGBA texture; a new size makes (and registers) a new buffer
    rgba = _picture(6, 4, 4)
    tex4 = gl.texture((4, 6), 4, alignment=1)
    assert up.upload(tex4, FakeCudaTensor(rgba))
    assert np.array_equal(_texture_rows(tex4), rgba[::-1])
    assert len(rt.registered) == 2 and rt.unregistered == rt.registered[:1]
    tex.release()
    tex4.release()


def test_what_cannot_go_through_is_left_to_the_host_path(gl, uploader_on_host):
    up, rt = uploader_on_host
    tex = gl.texture((7, 5), 3, alignment=1)
    assert not up.upload(tex, np.zeros((5, 7, 3), np.uint8))  # not a CUDA tensor
    assert not up.upload(tex, FakeCudaTensor(_picture(6, 7)))  # the texture has another size
    strided = FakeCudaTensor(_picture())
    strided.is_contiguous = lambda: False
    assert not up.upload(tex, strided)  # a strided view: no torch call here to fix it
    assert up.active and rt.registered == []
    other = FakeCudaTensor(_picture())
    other.device = type("device", (), {"index": 1})
    assert not up.upload(tex, other)  # on another GPU than the GL context: off for good
    assert not up.active and "CUDA device 1" in up.reason
    tex.release()


def test_a_cuda_error_turns_it_off_once(gl, uploader_on_host, caplog):
    caplog.set_level(logging.INFO, logger="latentperform.render")
    up, rt = uploader_on_host
    rt.fail_copy = True
    tex = gl.texture((7, 5), 3, alignment=1)
    assert not up.upload(tex, FakeCudaTensor(_picture()))
    assert not up.active and "illegal memory access" in up.reason
    assert rt.mapped == set() and rt.unregistered == rt.registered  # unmapped, unregistered
    rt.fail_copy = False
    assert not up.upload(tex, FakeCudaTensor(_picture()))  # stays off: the host path from now on
    lines = [r.getMessage() for r in caplog.records if "interop off" in r.getMessage()]
    assert len(lines) == 1 and lines[0].endswith("frames are uploaded through host memory")
    tex.release()


def test_frame_texture_takes_the_host_path_when_the_interop_is_not_there(gl, caplog):
    """FrameTexture.upload(pixels, tensor=<CUDA frame>) on a Mesa context: one log line, and
    the texture holds the host pixels (top row first in, GL row order in the texture)."""
    from latentperform.render.upload import FrameTexture
    caplog.set_level(logging.INFO, logger="latentperform.render")
    rng = np.random.default_rng(3)
    pixels = rng.integers(0, 256, (6, 10, 3), dtype=np.uint8)
    tex = FrameTexture(gl)
    try:
        for _ in range(2):
            tex.upload(pixels, tensor=FakeCudaTensor(pixels[::-1]))
        assert tex.uploads == 2 and tex.size == (10, 6)
        stored = np.frombuffer(tex.texture.read(alignment=1), np.uint8).reshape(6, 10, 3)
        np.testing.assert_array_equal(stored[::-1], pixels)
        lines = [r.getMessage() for r in caplog.records if "interop" in r.getMessage()]
        assert len(lines) == 1 and lines[0].startswith("CUDA-OpenGL interop off: ")
    finally:
        tex.release()


def test_frame_texture_uses_the_uploader_when_there_is_one(gl, uploader_on_host):
    """The GPU path of FrameTexture with the host-memory stand-in for CUDA: the frame (bottom
    row first, as the worker hands it over) lands in the texture without the host pixels."""
    from latentperform.render.upload import FrameTexture
    up, rt = uploader_on_host
    pixels = np.random.default_rng(4).integers(0, 256, (8, 12, 3), dtype=np.uint8)
    tex = FrameTexture(gl)
    tex._cuda_tried, tex._cuda = True, up
    try:
        tex.upload(None, tensor=FakeCudaTensor(np.ascontiguousarray(pixels[::-1])))
        assert tex.uploads == 1 and tex.size == (12, 8) and up.uploads == 1 and rt.copies == 1
        stored = np.frombuffer(tex.texture.read(alignment=1), np.uint8).reshape(8, 12, 3)
        np.testing.assert_array_equal(stored[::-1], pixels)
    finally:
        tex._cuda = None  # the fixture releases the uploader
        tex.release()


def test_the_texture_counts_which_upload_path_each_frame_took(gl):
    """FrameTexture says which path ran and its cost (bench/gpu.sh and the run summary print it):
    a host frame, and a CPU tensor offered as the CUDA frame, both take the host path."""
    from latentperform.render.upload import FrameTexture

    tex = FrameTexture(gl)
    assert tex.path_summary() == "no frames"
    frame = np.full((6, 8, 3), 7, np.uint8)
    tex.upload(frame)
    tex.upload(frame, tensor=None)
    assert tex.path_counts == {"cuda-gl": 0, "host": 2} and tex.path_seconds["host"] > 0
    assert tex.path_summary().startswith("host, ") and tex.path_summary().endswith("ms/frame (2 frames)")
    tex.release()


def test_after_a_lost_context_the_cuda_side_is_let_go_without_gl(gl, uploader_on_host):
    """Engine.open_gl abandons the old frame texture: its registration and stream are freed, and
    nothing touches the buffer of the context that is gone."""
    up, rt = uploader_on_host
    tex = gl.texture((7, 5), 3, alignment=1)
    assert up.upload(tex, FakeCudaTensor(_picture()))
    pbo = up._pbo
    released = []
    pbo_release = pbo.release
    try:
        pbo.release = lambda: released.append(1)
    except AttributeError:
        pass
    up.abandon()
    assert rt.unregistered == rt.registered and rt.destroyed == 77
    assert released == [] and up.stream == 0 and up._resource is None
    up.abandon()  # twice is harmless
    rt.destroyed = 77  # (the fixture checks release() destroyed the stream; abandon did)
    pbo_release()
    tex.release()
