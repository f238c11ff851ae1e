"""Inference off the render loop: latest wins, failures are values.

The engine calls `submit(request)` once a tick and `latest()` once a frame; neither ever waits for
the network.  A request submitted while another is still pending replaces it (the older one is
skipped and counted), so a slow network drops frames instead of falling behind.  Whatever goes
wrong inside the network (an exception, CUDA running out of memory, NaN pixels) comes back as a
`Frame` whose `error` says so in one line; the last good picture stays available as `last_good`.

For offline rendering, `InferenceWorker(..., synchronous=True)` renders each submitted request at
once, in order, on the caller's thread, and `render_now(request)` renders one request without
touching the live state; both use the same conversion code as live, and the same request gives
the same pixels.
"""

from __future__ import annotations

import ctypes
import inspect
import sys
import threading
import time
from dataclasses import dataclass

import numpy as np
import torch

from ..events import LatentRequest
from .base import Generator, truncate


@dataclass(frozen=True)
class Frame:
    """One finished picture (or a failure to make one).

    pixels   (H, W, 3) uint8 RGB, C-contiguous; on a failure, the last good frame's pixels, or
             None if nothing has rendered yet (always None for a failed `render_now`).  Live
             frames on CUDA live in a reused pinned host buffer: a buffer is never rewritten
             while its frame is the newest, the last good one or the last one `latest()`
             returned; copy pixels you keep longer.
    seq      the request's seq;  time: the request's engine time
    stamp    the request's stamp: engine time of the newest input that shaped this picture
    gen_ms   milliseconds from the start of inference to pixels on the host
    error    one line saying what went wrong, or None
    tensor   (H, W, 3) uint8 tensor on the generator's device when that is a GPU, bottom row
             first (OpenGL's order, for a direct GPU-to-texture upload), else None
    """

    pixels: np.ndarray | None
    seq: int = 0
    time: float = 0.0
    stamp: float | None = None
    gen_ms: float = 0.0
    error: str | None = None
    tensor: torch.Tensor | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def describe_error(exc: BaseException) -> str:
    """A clear one-line message for a failure inside the network."""
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in first.lower():
        return f"out of GPU memory: {first or type(exc).__name__} (try a lower resolution or fp16)"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class InferenceWorker:
    """Runs a generator on a background thread; the newest request wins.

    generator  any `Generator`; an nn.Module is moved to `device` (and cast to `dtype` when that
               is not float32) in place
    device     "cpu", "cuda", "cuda:1", ...
    dtype      torch.float32 or torch.float16 (fp16 is for CUDA; on CPU it is very slow)
    size       (height, width) to pass to synthesis(size=...) when the generator takes it
               (the built-in generator does); None renders at the generator's resolution
    synchronous  offline rendering: no thread; `submit` renders the request at once, on the
               caller's thread, so every request is rendered, in order, and `latest()` right
               after `submit` is its frame (same conversion code as live)
    retain_memory  (default True) call `retain_freed_memory()`: process-wide, glibc keeps freed
               frame-sized blocks for reuse instead of unmapping them, so every frame's tensors
               are not page-faulted in afresh (about a quarter less CPU a frame for the
               built-in generator at 256x256 on a worker thread).  False leaves malloc alone.

    submit(request)   replace the pending request; starts the thread on first use
    latest()          newest finished Frame (good or failed), or None; never waits
    last_good         newest good Frame, or None
    render_now(req)   render synchronously on the caller's thread; the result owns its pixels
    close()           stop the thread (also on `with` exit)

    Inference uses torch's intra-op threads as the application set them (torch.set_num_threads);
    the worker never changes them.
    """

    def __init__(self, generator: Generator, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, *, size: tuple[int, int] | None = None,
                 synchronous: bool = False, retain_memory: bool = True) -> None:
        self.device = torch.device(device)
        self.dtype = dtype
        if retain_memory:
            retain_freed_memory()
        if isinstance(generator, torch.nn.Module):
            generator = generator.to(self.device)
            if dtype != torch.float32:
                generator = generator.to(dtype)
            generator.eval()
        self.generator = generator
        self.size = size
        self.synchronous = synchronous
        self._takes_size = _accepts_kwarg(generator.synthesis, "size")
        if size is not None and not self._takes_size:
            raise ValueError(f"{type(generator).__name__}.synthesis takes no size=; render at its resolution")

        self._cond = threading.Condition()
        self._pending: LatentRequest | None = None
        self._latest: Frame | None = None
        self._last_good: Frame | None = None
        self._handed_out: Frame | None = None
        self._in_flight = False  # the thread has taken a request and not yet published its frame
        self._closed = False
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()  # one inference at a time on the generator
        self._pinned: list[torch.Tensor] = []  # at most 4: 3 frames may be in use, 1 to write
        self.rendered = 0  # submitted requests rendered (good or failed)
        self.skipped = 0  # requests replaced before they were rendered
        self.failed = 0

    # -------------------------------------------------------------------------- engine side
    def submit(self, request: LatentRequest) -> None:
        """Make `request` the next one to render, replacing any still pending.  Never waits
        (synchronous: renders it now, and returns when its frame is `latest()`)."""
        if self.synchronous:
            with self._cond:
                if self._closed:
                    raise RuntimeError("InferenceWorker is closed")
            frame = self._render(request, live=False, keep_last_good=True)
            self._publish(frame)
            return
        with self._cond:
            if self._closed:
                raise RuntimeError("InferenceWorker is closed")
            if self._pending is not None:
                self.skipped += 1
            self._pending = request
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name="lp-inference", daemon=True)
                self._thread.start()
            self._cond.notify()

    def latest(self) -> Frame | None:
        """The newest finished frame (good or failed), or None before the first one."""
        with self._cond:
            self._handed_out = self._latest
            return self._latest

    @property
    def last_good(self) -> Frame | None:
        with self._cond:
            return self._last_good

    @property
    def busy(self) -> bool:
        """True while a request is pending or being rendered."""
        with self._cond:
            return self._pending is not None or self._in_flight

    def wait(self, seq: int | None = None, timeout: float | None = None) -> Frame | None:
        """Block until a frame for `seq` (or any newer one) is finished; for tests and tools,
        never for the live loop.  seq None waits until nothing is pending or rendering."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                f = self._latest
                if seq is None:
                    if self._pending is None and not self._in_flight and f is not None:
                        return f
                elif f is not None and f.seq >= seq:
                    return f
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return f
                self._cond.wait(left)

    def close(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> "InferenceWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------ offline
    def render_now(self, request: LatentRequest) -> Frame:
        """Render on the caller's thread and return the Frame (failures as values too, with
        pixels None); does not touch `latest()`.  The returned pixels are a fresh array the caller
        owns, and the same request always gives the same pixels."""
        return self._render(request, live=False)

    # ----------------------------------------------------------------------------- internals
    def _loop(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                request, self._pending = self._pending, None
                self._in_flight = True
            self._publish(self._render(request, live=True))

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            self._in_flight = False
            self.rendered += 1
            if frame.error is None:
                self._last_good = frame
            else:
                self.failed += 1
            self._latest = frame
            self._cond.notify_all()

    def _render(self, request: LatentRequest, live: bool, keep_last_good: bool | None = None) -> Frame:
        """live: pixels may go to a reused pinned buffer; keep_last_good (default: live): a
        failure carries the last good frame's pixels."""
        t0 = time.perf_counter()
        try:
            with self._run_lock, torch.inference_mode():
                image = self.generator.synthesis(self.request_ws(request), noise_mode=request.noise_mode,
                                                 **self._synthesis_kwargs(request))
                pixels, tensor = self._to_pixels(image, live)
        except Exception as exc:  # noqa: BLE001 - every failure of the network becomes a value
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()  # give back what the failed frame held, so the next may fit
            keep = live if keep_last_good is None else keep_last_good
            good = self._last_good if keep else None  # render_now never depends on other frames
            return Frame(pixels=None if good is None else good.pixels, seq=request.seq, time=request.time,
                         stamp=request.stamp, gen_ms=(time.perf_counter() - t0) * 1e3,
                         error=describe_error(exc), tensor=None if good is None else good.tensor)
        return Frame(pixels=pixels, seq=request.seq, time=request.time, stamp=request.stamp,
                     gen_ms=(time.perf_counter() - t0) * 1e3, tensor=tensor)

    def _synthesis_kwargs(self, request: LatentRequest) -> dict:
        kwargs = {}
        if request.transform is not None:
            kwargs["transform"] = torch.as_tensor(np.asarray(request.transform, np.float32), device=self.device)
        if self.size is not None:
            kwargs["size"] = self.size
        return kwargs

    def request_ws(self, request: LatentRequest) -> torch.Tensor:
        """The request's latent as ws (1, num_ws, w_dim) on the worker's device and dtype:
        mapping(z) (or request.ws), truncation, style mix, then w_offset on every layer."""
        G = self.generator
        with torch.inference_mode():
            c = None
            if request.c is not None:
                c = self._tensor(request.c).reshape(1, -1)
            if request.ws is not None:
                ws = self._tensor(request.ws).reshape(1, G.num_ws, G.w_dim)
            else:
                ws = G.mapping(self._tensor(request.z).reshape(1, G.z_dim), c)
            ws = ws.to(self.device, self.dtype)
            w_avg = G.w_avg.to(self.device, self.dtype)
            ws = truncate(ws, w_avg, request.psi, request.cutoff)
            lo, hi = request.mix_layers
            if request.mix_z is not None and request.mix_amount != 0.0 and hi > lo:
                mix = G.mapping(self._tensor(request.mix_z).reshape(1, G.z_dim), c).to(self.device, self.dtype)
                mix = truncate(mix, w_avg, request.psi, request.cutoff)
                ws = ws.clone()
                ws[:, lo:hi] = ws[:, lo:hi].lerp(mix[:, lo:hi], float(request.mix_amount))
            if request.w_offset is not None:
                ws = ws + self._tensor(request.w_offset).reshape(1, 1, G.w_dim).to(self.dtype)
            return ws

    def _tensor(self, value) -> torch.Tensor:
        return torch.as_tensor(np.asarray(value, dtype=np.float32), device=self.device)

    def _to_pixels(self, image: torch.Tensor, live: bool) -> tuple[np.ndarray, torch.Tensor | None]:
        """(1, C, H, W) float in [-1, 1] -> (H, W, 3) uint8 RGB on the host (+ the device tensor)."""
        if image.ndim != 4 or image.shape[0] < 1:
            raise ValueError(f"generator returned shape {tuple(image.shape)}, expected (N, C, H, W)")
        img = image[0]
        if not torch.isfinite(img).all():
            raise FloatingPointError("generator output contains NaN or Inf")
        channels = img.shape[0]
        if channels == 1:
            img = img.expand(3, -1, -1)
        elif channels == 2:
            raise ValueError("generator returned 2 channels; expected 1 (grey), 3 (RGB) or more")
        else:
            img = img[:3]
        u8 = (img.float() * 127.5 + 128.0).clamp_(0, 255).to(torch.uint8).permute(1, 2, 0).contiguous()
        if u8.device.type == "cpu":
            return u8.numpy(), None  # a fresh tensor each frame: the array owns its memory
        if not live:
            return u8.cpu().numpy(), None
        host = self._pinned_buffer(u8.shape)
        host.copy_(u8, non_blocking=True)
        gl_rows = u8.flip(0).contiguous()  # bottom row first, as OpenGL stores a texture
        torch.cuda.current_stream(u8.device).synchronize()  # both ready before anyone reads them
        return host.numpy(), gl_rows

    def _pinned_buffer(self, shape: torch.Size) -> torch.Tensor:
        """A pinned host buffer of `shape` holding none of the frames someone may still read."""
        with self._cond:
            in_use = {f.pixels.__array_interface__["data"][0]
                      for f in (self._latest, self._last_good, self._handed_out)
                      if f is not None and f.pixels is not None}
        if self._pinned and tuple(self._pinned[0].shape) != tuple(shape):
            self._pinned = []  # the size changed: start a new ring
        for buf in self._pinned:
            if buf.data_ptr() not in in_use:
                return buf
        buf = torch.empty(tuple(shape), dtype=torch.uint8, pin_memory=True)
        self._pinned.append(buf)
        return buf


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters
_retained = False


def retain_freed_memory(mmap_threshold: int = 64 << 20, trim_threshold: int = 256 << 20) -> bool:
    """Make glibc's malloc serve blocks below `mmap_threshold` from its heap and keep up to
    `trim_threshold` of freed memory, instead of mapping every big tensor fresh and handing it
    back on free (which costs a page fault per 4 KiB, thousands a frame, worst on threads
    other than the main one).  Process-wide and idempotent; a no-op (False) off glibc."""
    global _retained
    if _retained:
        return True
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
        ok = bool(libc.mallopt(_M_MMAP_THRESHOLD, mmap_threshold))
        ok = bool(libc.mallopt(_M_TRIM_THRESHOLD, trim_threshold)) and ok
    except (OSError, AttributeError):  # not glibc (musl has no mallopt)
        return False
    _retained = ok
    return ok


def _accepts_kwarg(fn, name: str) -> bool:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
