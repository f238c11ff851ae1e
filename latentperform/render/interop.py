"""CUDA-OpenGL interop: a generated frame goes from the generator's CUDA tensor into the GL
texture without a trip through host memory.

How: a GL pixel-unpack buffer (PBO) is registered with CUDA once (cudaGraphicsGLRegisterBuffer).
Per frame it is mapped, the tensor's bytes are copied into it device to device, it is unmapped
(which orders the copy before any later GL work), and GL fills the texture from the PBO: every
byte stays on the GPU.  The CUDA runtime is reached through ctypes (libcudart, which every CUDA
build of torch brings along), so this module needs no extra package and never imports torch.

Anything missing (no libcudart, no CUDA device, a GL context that is not on the NVIDIA GPU, a
CUDA error) turns the interop off with one log line; the caller then uploads through host memory
as before.  `CudaGLUploader.create(ctx)` returns None in that case.

    uploader = CudaGLUploader.create(ctx)          # once, with the GL context current
    ok = uploader.upload(texture, tensor)          # (H, W, 3|4) uint8 CUDA tensor, top row first
    if not ok: texture.write(tensor.cpu().numpy()[::-1].tobytes())   # the host path

The texture must be (W, H) with the tensor's channel count; it receives the rows bottom first,
as FrameTexture stores frames.  A tensor that is already bottom row first
(`upload(..., bottom_first=True)`, e.g. `u8.flip(0).contiguous()` made by the inference worker)
goes in one copy; a top-first one is copied row by row (H small copies, no torch call here).

Streams: the copy runs on the uploader's own non-blocking CUDA stream, so it never waits for
the generator's work in flight on the other streams (the legacy default stream would).  That
is why the tensor must be finished when `upload` is called: the inference worker synchronises
its stream before it hands a frame over.  `upload` waits for its own copy before returning.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import logging
import os
import sys

log = logging.getLogger("latentperform.render")

ENV_SWITCH = "LP_CUDA_GL_INTEROP"  # "0" turns the interop off
ENV_LIBRARY = "LP_CUDART"          # a path to libcudart, where it is not found by itself

_CUDA_SUCCESS = 0
_MEMCPY_DEVICE_TO_DEVICE = 3
_REGISTER_WRITE_DISCARD = 2  # cudaGraphicsRegisterFlagsWriteDiscard
_GL_DEVICE_LIST_ALL = 1      # cudaGLDeviceListAll

_SONAMES = {
    "linux": ("libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0"),
    "win32": ("cudart64_13.dll", "cudart64_130.dll", "cudart64_12.dll", "cudart64_120.dll", "cudart64_110.dll"),
}


class InteropUnavailable(Exception):
    """The interop cannot run here; the message says why, in one line."""


# -- the CUDA runtime through ctypes ------------------------------------------------------------------

_VP = ctypes.c_void_p
_SIGNATURES = {
    # name: (argtypes)   every function returns cudaError_t (int) except cudaGetErrorString
    "cudaGetDeviceCount": (ctypes.POINTER(ctypes.c_int),),
    "cudaSetDevice": (ctypes.c_int,),
    "cudaGetDevice": (ctypes.POINTER(ctypes.c_int),),
    "cudaGLGetDevices": (ctypes.POINTER(ctypes.c_uint), ctypes.POINTER(ctypes.c_int), ctypes.c_uint, ctypes.c_int),
    "cudaGraphicsGLRegisterBuffer": (ctypes.POINTER(_VP), ctypes.c_uint, ctypes.c_uint),
    "cudaGraphicsUnregisterResource": (_VP,),
    "cudaGraphicsMapResources": (ctypes.c_int, ctypes.POINTER(_VP), _VP),
    "cudaGraphicsUnmapResources": (ctypes.c_int, ctypes.POINTER(_VP), _VP),
    "cudaGraphicsResourceGetMappedPointer": (ctypes.POINTER(_VP), ctypes.POINTER(ctypes.c_size_t), _VP),
    "cudaMemcpyAsync": (_VP, _VP, ctypes.c_size_t, ctypes.c_int, _VP),
    "cudaStreamSynchronize": (_VP,),
    "cudaStreamCreateWithFlags": (ctypes.POINTER(_VP), ctypes.c_uint),
    "cudaStreamDestroy": (_VP,),
    "cudaGetLastError": (),
}


def _candidates() -> list[str]:
    """Where libcudart may be: LP_CUDART, the loader's search path, the pip wheels of CUDA."""
    out = []
    if os.environ.get(ENV_LIBRARY):
        out.append(os.environ[ENV_LIBRARY])
    found = ctypes.util.find_library("cudart")
    if found:
        out.append(found)
    out.extend(_SONAMES["win32" if sys.platform == "win32" else "linux"])
    for base in sys.path:  # nvidia-cuda-runtime-cu12 / nvidia-cuda-runtime (torch's CUDA wheels)
        for pattern in ("nvidia/cuda_runtime/lib/libcudart.so*", "nvidia/cu*/lib/libcudart.so*",
                        "nvidia/cuda_runtime/bin/cudart64_*.dll"):
            out.extend(sorted(glob.glob(os.path.join(base, pattern)), reverse=True))
    return list(dict.fromkeys(out))


def load_cudart() -> tuple[ctypes.CDLL, str]:
    """The CUDA runtime library and where it was found; InteropUnavailable when there is none."""
    for name in _candidates():
        try:
            return ctypes.CDLL(name), name
        except OSError:
            continue
    raise InteropUnavailable("no CUDA runtime library (libcudart) found")


class CudaRuntime:
    """The few CUDA runtime calls the interop needs, with their C signatures declared."""

    def __init__(self, lib: ctypes.CDLL, path: str = "") -> None:
        self.lib = lib
        self.path = path
        missing = []
        for name, argtypes in _SIGNATURES.items():
            fn = getattr(lib, name, None)
            if fn is None:
                missing.append(name)
                continue
            fn.argtypes = list(argtypes)
            fn.restype = ctypes.c_int
        if missing:
            raise InteropUnavailable(f"{path or 'libcudart'} lacks {', '.join(missing)}")
        lib.cudaGetErrorString.argtypes = [ctypes.c_int]
        lib.cudaGetErrorString.restype = ctypes.c_char_p

    def error_string(self, code: int) -> str:
        raw = self.lib.cudaGetErrorString(int(code))
        return raw.decode(errors="replace") if raw else f"CUDA error {code}"

    def check(self, code: int, what: str) -> None:
        if code != _CUDA_SUCCESS:
            raise InteropUnavailable(f"{what}: {self.error_string(code)} (CUDA error {code})")

    def device_count(self) -> int:
        n = ctypes.c_int(0)
        self.check(self.lib.cudaGetDeviceCount(ctypes.byref(n)), "cudaGetDeviceCount")
        return n.value

    def gl_devices(self) -> list[int]:
        """The CUDA devices that run the current GL context."""
        count = ctypes.c_uint(0)
        devices = (ctypes.c_int * 8)()
        self.check(self.lib.cudaGLGetDevices(ctypes.byref(count), devices, 8, _GL_DEVICE_LIST_ALL),
                   "cudaGLGetDevices (is the OpenGL context on an NVIDIA GPU?)")
        return [devices[i] for i in range(min(count.value, 8))]

    # the graphics-resource calls, one resource at a time

    def register_buffer(self, gl_buffer: int) -> int:
        res = _VP()
        self.check(self.lib.cudaGraphicsGLRegisterBuffer(ctypes.byref(res), int(gl_buffer), _REGISTER_WRITE_DISCARD),
                   "cudaGraphicsGLRegisterBuffer")
        return res.value

    def unregister(self, resource: int) -> None:
        self.check(self.lib.cudaGraphicsUnregisterResource(_VP(resource)), "cudaGraphicsUnregisterResource")

    def map(self, resource: int, stream: int) -> tuple[int, int]:
        res = (_VP * 1)(resource)
        self.check(self.lib.cudaGraphicsMapResources(1, res, _VP(stream)), "cudaGraphicsMapResources")
        ptr, size = _VP(), ctypes.c_size_t(0)
        code = self.lib.cudaGraphicsResourceGetMappedPointer(ctypes.byref(ptr), ctypes.byref(size), _VP(resource))
        if code != _CUDA_SUCCESS:
            self.lib.cudaGraphicsUnmapResources(1, res, _VP(stream))
            self.check(code, "cudaGraphicsResourceGetMappedPointer")
        return ptr.value or 0, size.value

    def unmap(self, resource: int, stream: int) -> None:
        res = (_VP * 1)(resource)
        self.check(self.lib.cudaGraphicsUnmapResources(1, res, _VP(stream)), "cudaGraphicsUnmapResources")

    def copy_device_to_device(self, dst: int, src: int, nbytes: int, stream: int) -> None:
        self.check(self.lib.cudaMemcpyAsync(_VP(dst), _VP(src), ctypes.c_size_t(nbytes), _MEMCPY_DEVICE_TO_DEVICE,
                                            _VP(stream)), "cudaMemcpyAsync")

    def synchronize(self, stream: int) -> None:
        self.check(self.lib.cudaStreamSynchronize(_VP(stream)), "cudaStreamSynchronize")

    def create_stream(self) -> int:
        """A stream that does not wait for the legacy default stream (cudaStreamNonBlocking)."""
        stream = _VP()
        self.check(self.lib.cudaStreamCreateWithFlags(ctypes.byref(stream), 1), "cudaStreamCreateWithFlags")
        return stream.value or 0

    def destroy_stream(self, stream: int) -> None:
        self.check(self.lib.cudaStreamDestroy(_VP(stream)), "cudaStreamDestroy")


# -- when it can be used --------------------------------------------------------------------------------


def context_reason(gl_info: dict) -> str | None:
    """Why a GL context cannot take part (None: it may): the interop needs NVIDIA's driver."""
    if os.environ.get(ENV_SWITCH, "").strip() == "0":
        return f"turned off ({ENV_SWITCH}=0)"
    vendor = str(gl_info.get("GL_VENDOR", ""))
    renderer = str(gl_info.get("GL_RENDERER", ""))
    if "nvidia" not in vendor.lower():
        return f"the OpenGL context runs on {renderer or 'an unknown renderer'} ({vendor or 'unknown vendor'}), not on an NVIDIA GPU"
    return None


def tensor_reason(tensor) -> str | None:
    """Why a frame cannot go through the interop (None: it can).  Duck-typed: no torch import."""
    if not getattr(tensor, "is_cuda", False):
        return "the frame is not on a CUDA device"
    if "uint8" not in str(getattr(tensor, "dtype", "")):
        return f"the frame is {getattr(tensor, 'dtype', '?')}, not uint8"
    shape = tuple(getattr(tensor, "shape", ()))
    if len(shape) != 3 or shape[2] not in (3, 4):
        return f"the frame's shape is {shape}, not (H, W, 3|4)"
    return None


_logged: set[str] = set()


def _log_once(message: str) -> None:
    if message not in _logged:
        _logged.add(message)
        log.info("%s", message)


# -- the uploader -----------------------------------------------------------------------------------------


class CudaGLUploader:
    """Copies CUDA tensors into GL textures through a CUDA-registered PBO (see the module doc).

    Use it on the thread whose GL context is current.  After a CUDA error it turns itself off
    (`reason` says why) and `upload` returns False from then on.
    """

    def __init__(self, ctx, runtime, gl_devices: list[int] | None = None) -> None:
        self.ctx = ctx
        self.rt = runtime
        self.gl_devices = list(gl_devices or [])
        self.reason: str | None = None
        self.uploads = 0
        self._pbo = None
        self._resource: int | None = None
        self._nbytes = 0
        self.stream = runtime.create_stream()

    @classmethod
    def create(cls, ctx) -> "CudaGLUploader | None":
        """An uploader for `ctx` (current on this thread), or None with one log line saying why not."""
        try:
            reason = context_reason(ctx.info)
            if reason:
                raise InteropUnavailable(reason)
            runtime = CudaRuntime(*load_cudart())
            if runtime.device_count() < 1:
                raise InteropUnavailable("no CUDA device")
            devices = runtime.gl_devices()
            if not devices:
                raise InteropUnavailable("no CUDA device runs this OpenGL context")
        except InteropUnavailable as e:
            _log_once(f"CUDA-OpenGL interop off: {e}; frames are uploaded through host memory")
            return None
        except Exception as e:  # a broken driver install must not stop the show
            _log_once(f"CUDA-OpenGL interop off: {e!r}; frames are uploaded through host memory")
            return None
        log.info("CUDA-OpenGL interop on (CUDA device %s, %s)", devices, runtime.path)
        return cls(ctx, runtime, devices)

    @property
    def active(self) -> bool:
        return self.reason is None

    def _buffer(self, nbytes: int):
        """The registered PBO, (re)made when the frame size changes."""
        if self._pbo is not None and self._nbytes == nbytes:
            return self._pbo
        self._release_buffer()
        pbo = self.ctx.buffer(reserve=nbytes, dynamic=True)
        try:
            self._resource = self.rt.register_buffer(pbo.glo)
        except Exception:
            pbo.release()
            raise
        self._pbo, self._nbytes = pbo, nbytes
        return pbo

    def upload_pointer(self, texture, device_ptr: int, shape: tuple[int, int, int],
                       bottom_first: bool = True) -> None:
        """Copy contiguous (H, W, C) uint8 rows at `device_ptr` into `texture`, bottom row first
        there.  Raises on CUDA errors (`upload` turns them into a fallback)."""
        h, w, c = (int(x) for x in shape)
        if tuple(texture.size) != (w, h) or texture.components != c:
            raise ValueError(f"the texture is {texture.size} x{texture.components}, the frame {w}x{h} x{c}")
        row, nbytes = w * c, h * w * c
        pbo = self._buffer(nbytes)
        stream = self.stream
        dst, size = self.rt.map(self._resource, stream)
        try:
            if size < nbytes:
                raise InteropUnavailable(f"the mapped buffer holds {size} bytes, the frame {nbytes}")
            if bottom_first:
                self.rt.copy_device_to_device(dst, int(device_ptr), nbytes, stream)
            else:  # flip while copying: source row i goes to row h-1-i
                for i in range(h):
                    self.rt.copy_device_to_device(dst + (h - 1 - i) * row, int(device_ptr) + i * row, row, stream)
        finally:
            self.rt.unmap(self._resource, stream)  # orders the copy before later GL work
        self.rt.synchronize(stream)  # the source may be freed once we return
        texture.write(pbo, alignment=1)  # GL: PBO -> texture, on the GPU
        self.uploads += 1

    def upload(self, texture, tensor, bottom_first: bool = False) -> bool:
        """Put a (H, W, 3|4) uint8 contiguous CUDA tensor into `texture` (top row first, or
        bottom row first with `bottom_first`); False when the caller should take the host path
        (a CPU tensor, a size mismatch, the interop turned off)."""
        if self.reason is not None or tensor_reason(tensor) is not None:
            return False
        h, w, c = (int(x) for x in tensor.shape)
        if tuple(texture.size) != (w, h) or texture.components != c:
            return False
        device = getattr(getattr(tensor, "device", None), "index", None)
        if self.gl_devices and device is not None and device not in self.gl_devices:
            self._turn_off(f"the frame is on CUDA device {device}, the OpenGL context on {self.gl_devices}")
            return False
        if hasattr(tensor, "is_contiguous") and not tensor.is_contiguous():
            return False  # making it contiguous would be a torch call on this thread: the host path
        try:
            self.upload_pointer(texture, tensor.data_ptr(), (h, w, c), bottom_first=bottom_first)
            return True
        except Exception as e:
            self._turn_off(str(e))
            return False

    def _turn_off(self, reason: str) -> None:
        self.reason = reason
        log.warning("CUDA-OpenGL interop off: %s; frames are uploaded through host memory", reason)
        try:
            self._release_buffer()
        except Exception:
            pass

    def _release_buffer(self) -> None:
        if self._resource is not None:
            resource, self._resource = self._resource, None
            self.rt.unregister(resource)
        if self._pbo is not None:
            self._pbo.release()
            self._pbo, self._nbytes = None, 0

    def abandon(self) -> None:
        """The GL context is lost: let go of the CUDA side (the registration, the stream) without
        a GL call; the buffer went with the context."""
        resource, self._resource = self._resource, None
        self._pbo, self._nbytes = None, 0
        stream, self.stream = self.stream, 0
        if resource is not None:
            try:
                self.rt.unregister(resource)
            except Exception as e:
                log.debug("interop after a lost context: cannot unregister: %s", e)
        if stream:
            try:
                self.rt.destroy_stream(stream)
            except Exception as e:
                log.debug("interop after a lost context: cannot destroy the stream: %s", e)

    def release(self) -> None:
        try:
            self._release_buffer()
            if self.stream:
                stream, self.stream = self.stream, 0
                self.rt.destroy_stream(stream)
        except Exception as e:
            log.debug("releasing the interop buffer: %s", e)
