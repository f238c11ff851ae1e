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

Latent interpolation (live, `submit(request, interpolate=display_period)`): when the network is
slower than the display, the worker renders in one synthesis call a short batch of latents
interpolated between the last request it rendered and the newest one, one per display frame
(at most `max_batch`); the engine shows them one per display tick.  A batch of N costs a GPU
much less than N single calls, so every displayed frame is a real picture of the network.
"""

from __future__ import annotations

import ctypes
import inspect
import math
import sys
import threading
import time
import weakref
from dataclasses import dataclass

import numpy as np
import torch

from ..events import LatentRequest
from .base import Generator, to_uint8, truncate
from .device import device_of, dtype_of

HANG_S = 10.0  # a generator call longer than this is reported as hung (once per call)
MAX_BATCH = 8  # latents interpolated in one synthesis call, at most (InferenceWorker.max_batch)
BATCH_BUFFERS = 4  # pinned host buffers for batches; when all are in use a batch gets plain memory


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
    inbetween  latent interpolation (`submit(..., interpolate=...)`): the pictures rendered in the
             same call for the latents between the previously rendered request and this one,
             oldest first, this frame being the last; each is a Frame whose `time` is the instant
             it stands for (seq, stamp, gen_ms: this request's).  () otherwise.  Batch pixels live
             in a pinned buffer that is rewritten only once no Frame of that batch is referenced.
    """

    pixels: np.ndarray | None
    seq: int = 0
    time: float = 0.0
    stamp: float | None = None
    gen_ms: float = 0.0
    error: str | None = None
    tensor: torch.Tensor | None = None
    inbetween: tuple["Frame", ...] = ()

    @property
    def ok(self) -> bool:
        return self.error is None


def describe_error(exc: BaseException) -> str:
    """A clear one-line message for a failure inside the network."""
    if isinstance(exc, SystemExit):
        return f"the generator called sys.exit({exc.code!r}); the show goes on with the last good picture"
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    first = first[:300]
    if isinstance(exc, torch.cuda.OutOfMemoryError) or "out of memory" in first.lower():
        return f"out of GPU memory: {first or type(exc).__name__} (try a lower resolution or fp16)"
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


class InferenceWorker:
    """Runs a generator on a background thread; the newest request wins.

    generator  any `Generator`, already on its device in its precision (the loader put it
               there: models/device.py).  The worker never moves or casts it; `device` and
               `dtype` are read from it (where its w_avg lives, and its dtype), and the
               latents, transforms and pinned host buffers follow them
    size       (height, width) to pass to synthesis(size=...) when the generator takes it
               (the built-in generator does); None renders at the generator's resolution
    synchronous  offline rendering: no thread; `submit` renders the request at once, on the
               caller's thread, so every request is rendered, in order, and `latest()` right
               after `submit` is its frame (same conversion code as live)
    retain_memory  (default True) call `retain_freed_memory()`: process-wide, glibc keeps freed
               frame-sized blocks for reuse instead of unmapping them, so every frame's tensors
               are not page-faulted in afresh (about a quarter less CPU a frame for the
               built-in generator at 256x256 on a worker thread).  False leaves malloc alone.

    submit(request, interpolate=None)   replace the pending request; starts the thread on first
                      use.  interpolate (live): the display's frame period in seconds; see submit
    latest()          newest finished Frame (good or failed), or None; never waits
    last_good         newest good Frame, or None
    render_now(req)   render synchronously on the caller's thread; the result owns its pixels
    close()           stop the thread (also on `with` exit)

    max_batch         most latents one interpolation batch renders (MAX_BATCH)

    Inference uses torch's intra-op threads as the application set them (torch.set_num_threads);
    the worker never changes them.
    """

    def __init__(self, generator: Generator, *, size: tuple[int, int] | None = None,
                 synchronous: bool = False, retain_memory: bool = True) -> None:
        self.device = device_of(generator)  # the generator's, never changed here
        self.dtype = dtype_of(generator)
        if retain_memory:
            retain_freed_memory()
        if isinstance(generator, torch.nn.Module):
            generator.eval()  # inference mode of its layers; where it lives is untouched
        self.generator = generator
        self.bender = None  # a models.bend.Bender on this generator, set by the show
        self.size = size
        self.synchronous = synchronous
        self._takes_size = _accepts_kwarg(generator.synthesis, "size")
        if size is not None and not self._takes_size:
            raise ValueError(f"{type(generator).__name__}.synthesis takes no size=; render at its resolution")

        self._cond = threading.Condition()
        self._pending: LatentRequest | None = None
        self._pending_period: float | None = None
        self._latest: Frame | None = None
        self._last_good: Frame | None = None
        self._handed_out: Frame | None = None
        self._in_flight = False  # the thread has taken a request and not yet published its frame
        self._closed = False
        self._thread: threading.Thread | None = None
        self._run_lock = threading.Lock()  # one inference at a time on the generator
        self._pinned: list[torch.Tensor] = []  # at most 4: 3 frames may be in use, 1 to write
        # batches: [pinned (max_batch, H, W, 3) buffer, weak references to the Frames reading it]
        self._batch_pinned: list[list] = []
        self._last_end: _Endpoint | None = None  # the last request rendered live, as ws
        # one transform per picture, (N, 3, 3): the built-in, StyleGAN2/3 and TorchScript kinds
        self._batched_transform = bool(getattr(generator, "batched_transform", False))
        self.max_batch = MAX_BATCH
        self.rendered = 0  # submitted requests rendered (good or failed)
        self.skipped = 0  # requests replaced before they were rendered
        self.failed = 0
        self.interpolated = 0  # in-between pictures rendered (latent interpolation)
        self.hang_s = HANG_S  # a render longer than this is reported once (latest())
        self.hangs = 0
        self.restarts = 0  # generator threads that died and were replaced
        self._busy_since: float | None = None
        self._hang_reported = False
        self._expected_hw: tuple[int, int] | None = None if size is None else (int(size[0]), int(size[1]))

    # -------------------------------------------------------------------------- engine side
    def submit(self, request: LatentRequest, *, interpolate: float | None = None) -> None:
        """Make `request` the next one to render, replacing any still pending.  Never waits
        (synchronous: renders it now, and returns when its frame is `latest()`).

        interpolate: the display's frame period, seconds (live only; ignored when synchronous).
        When this request's time is k >= 2 display periods after the last request rendered, the
        worker renders min(k, max_batch) pictures in one synthesis call: the latents at 1/k,
        2/k, ... 1 of the way from that request to this one (ws after mapping, truncation, style
        mix and offset, interpolated per layer; the transform's rotation and translation too),
        and `latest()` is this request's Frame with the others in `Frame.inbetween`.  A
        generator that cannot take one transform per picture (those with `batched_transform =
        True` can: the built-in, StyleGAN2/3 and TorchScript kinds) gets no batch while the
        transform moves."""
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
            self._pending_period = None if interpolate is None else float(interpolate)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="lp-inference", daemon=True)
                self._thread.start()
                _LIVE.add(self)
            self._cond.notify()

    def latest(self) -> Frame | None:
        """The newest finished frame (good or failed), or None before the first one.

        A generator that has not answered for `hang_s` seconds gets one failed Frame saying so
        (the last good pixels, seq -1 - restarts - hangs so it is new to the engine); the show
        goes on with the last good picture until the network answers again."""
        with self._cond:
            since = self._busy_since
            if (since is not None and not self._hang_reported and self.hang_s > 0
                    and time.monotonic() - since > self.hang_s):
                self._hang_reported = True
                self.hangs += 1
                good = self._last_good
                self._latest = Frame(pixels=None if good is None else good.pixels, seq=-self.hangs,
                                     error=f"the generator has not answered for {self.hang_s:.0f} s "
                                           "(hung?); showing the last good picture",
                                     tensor=None if good is None else good.tensor)
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

    def close(self, timeout: float = 5.0) -> bool:
        """Stop the thread, waiting up to `timeout` for a render in progress to end (a thread
        still inside torch at interpreter exit aborts the process).  True when it has ended."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)
            if thread.is_alive():
                return False
        _LIVE.discard(self)
        return True

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
        request = None
        try:
            while True:
                with self._cond:
                    while self._pending is None and not self._closed:
                        self._cond.wait()
                    if self._closed:
                        return
                    request, self._pending = self._pending, None
                    period = self._pending_period
                    self._in_flight = True
                    self._busy_since = time.monotonic()
                self._publish(self._render(request, live=True, interpolate=period))
        except BaseException as exc:  # noqa: BLE001 - even KeyboardInterrupt-like escapes: say so
            self.restarts += 1
            message = (f"the generator thread stopped ({describe_error(exc)}); restarted it "
                       f"(restart {self.restarts})")
            seq = request.seq if request is not None else 0
            with self._cond:
                self._thread = None  # the next submit starts a new one
            good = self.last_good
            self._publish(Frame(pixels=None if good is None else good.pixels, seq=seq,
                                time=0.0 if request is None else request.time,
                                error=message, tensor=None if good is None else good.tensor))

    def _publish(self, frame: Frame) -> None:
        with self._cond:
            self._in_flight = False
            self._busy_since = None
            self._hang_reported = False
            self.rendered += 1
            if frame.error is None:
                self._last_good = frame
            else:
                self.failed += 1
            self._latest = frame
            self._cond.notify_all()

    def _render(self, request: LatentRequest, live: bool, keep_last_good: bool | None = None,
                interpolate: float | None = None) -> Frame:
        """live: pixels may go to a reused pinned buffer, and the request is remembered as the
        start of the next interpolation; keep_last_good (default: live): a failure carries the
        last good frame's pixels; interpolate: see submit (live only)."""
        t0 = time.perf_counter()
        try:
            with self._run_lock, torch.inference_mode():
                if self.bender is not None:  # the patch's bends, at this request's values
                    self.bender.update(request.bends, request.seq)
                ws = self.request_ws(request)
                end = _Endpoint(ws, _matrix(request.transform), float(request.time))
                if live and interpolate is not None:  # a batch, maybe of one: its own host buffer
                    frame = self._render_batch(request, self._last_end, end,
                                               self._batch_size(end, interpolate), t0)
                else:
                    image = self.generator.synthesis(ws, noise_mode=request.noise_mode,
                                                     **self._synthesis_kwargs(request))
                    pixels, tensor = self._to_pixels(image, live)
                    frame = Frame(pixels=pixels, seq=request.seq, time=request.time, stamp=request.stamp,
                                  gen_ms=(time.perf_counter() - t0) * 1e3, tensor=tensor)
                if live:
                    self._last_end = end
                return frame
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - every failure of the network becomes a value
            if isinstance(exc, torch.cuda.OutOfMemoryError):
                torch.cuda.empty_cache()  # give back what the failed frame held, so the next may fit
            keep = live if keep_last_good is None else keep_last_good
            good = self._last_good if keep else None  # render_now never depends on other frames
            return Frame(pixels=None if good is None else good.pixels, seq=request.seq, time=request.time,
                         stamp=request.stamp, gen_ms=(time.perf_counter() - t0) * 1e3,
                         error=describe_error(exc), tensor=None if good is None else good.tensor)

    # ------------------------------------------------------------------- latent interpolation
    def _batch_size(self, end: "_Endpoint", period: float | None) -> int:
        """How many pictures to render for `end`: 1, or the display periods since the last
        rendered request (at most max_batch) when an interpolation can be made."""
        start = self._last_end
        if period is None or not period > 0 or start is None or start.ws.shape != end.ws.shape:
            return 1
        span = (end.time - start.time) / period
        if not span >= 1.5:  # also NaN
            return 1
        k = min(int(round(span)), max(int(self.max_batch), 1))
        if k > 1 and not self._batched_transform and not _same_matrix(start.transform, end.transform):
            return 1
        return k

    def _render_batch(self, request: LatentRequest, start: "_Endpoint | None", end: "_Endpoint", k: int,
                      t0: float) -> Frame:
        """k pictures in one synthesis call: the latents 1/k ... k/k of the way from start to end
        (the last is `end` exactly).  Returns end's Frame with the others in `inbetween`.  k = 1
        renders `end` alone (start may be None), into a batch host buffer all the same: frames
        wait in the engine's queue, so each holds its buffer for as long as it lives."""
        kwargs = self._synthesis_kwargs(request)
        if k == 1:
            ws = end.ws
        else:
            fractions = torch.arange(1, k + 1, dtype=torch.float32, device=self.device) / k
            a, b = start.ws.float(), end.ws.float()
            ws = (a + (b - a) * fractions[:, None, None]).to(self.dtype)  # (k, num_ws, w_dim): per layer
            ws[-1] = end.ws[0]
        if k > 1 and (start.transform is not None or end.transform is not None):
            if _same_matrix(start.transform, end.transform):
                matrices = end.transform[None]
            else:
                matrices = np.stack([interpolate_transform(start.transform, end.transform, i / k)
                                     for i in range(1, k + 1)])
            kwargs["transform"] = torch.as_tensor(matrices if len(matrices) > 1 else matrices[0],
                                                  device=self.device)
        image = self.generator.synthesis(ws, noise_mode=request.noise_mode, **kwargs)
        if k == 1 and image.ndim == 4 and image.shape[0] > 1:
            image = image[:1]  # as a single request: its first picture
        pictures, claim = self._batch_to_pixels(image, k)
        gen_ms = (time.perf_counter() - t0) * 1e3
        times = [] if k == 1 else [start.time + (end.time - start.time) * i / k for i in range(1, k)]
        times.append(request.time)
        frames = [Frame(pixels=pixels, seq=request.seq, time=when, stamp=request.stamp, gen_ms=gen_ms,
                        tensor=tensor) for (pixels, tensor), when in zip(pictures, times)]
        last = Frame(pixels=frames[-1].pixels, seq=request.seq, time=request.time, stamp=request.stamp,
                     gen_ms=gen_ms, tensor=frames[-1].tensor, inbetween=tuple(frames[:-1]))
        if claim is not None:  # the pinned buffer stays in use while any of these Frames lives
            claim.slot[1] = [weakref.ref(f) for f in (*frames[:-1], last)]
        self.interpolated += k - 1
        return last

    def _batch_to_pixels(self, image: torch.Tensor, k: int):
        """(k, C, H, W) float in [-1, 1] -> ([k (pixels, GL-order device tensor or None)], the
        claim on the pinned buffer holding the pixels, or None)."""
        self._check_output(image)
        if image.shape[0] != k:
            raise ValueError(f"generator returned shape {tuple(image.shape)} for a batch of {k}, "
                             f"expected ({k}, C, H, W)")
        u8 = self._to_u8(image)
        if u8.device.type != "cuda":  # pinned buffers and GL upload: CUDA only
            host = u8.cpu().numpy()  # a fresh tensor: the arrays own their memory
            return [(host[i], None) for i in range(k)], None
        host, claim = self._batch_host(u8)
        gl_rows = u8.flip(1).contiguous()  # each picture bottom row first, as OpenGL stores it
        torch.cuda.current_stream(u8.device).synchronize()  # both ready before anyone reads them
        return [(host[i], gl_rows[i]) for i in range(k)], claim

    def _batch_host(self, u8: torch.Tensor, pin: bool | None = None):
        """Copy a (k, H, W, 3) batch to host memory that no live Frame reads: a free buffer of the
        pinned ring (asynchronously from a GPU; the caller synchronises), else fresh memory.
        Returns (the (k, H, W, 3) array, a claim or None).  A ring buffer is free when every
        Frame registered on it (`claim.slot[1]`, weak references) is gone; until the caller
        registers its Frames, the claim itself keeps the buffer taken."""
        k, frame_shape = int(u8.shape[0]), tuple(u8.shape[1:])
        pin = u8.device.type == "cuda" if pin is None else pin
        ring = self._batch_pinned
        ring[:] = [slot for slot in ring if tuple(slot[0].shape[1:]) == frame_shape
                   and slot[0].shape[0] >= k]  # a new picture size: a new ring
        slot = next((s for s in ring if all(ref() is None for ref in s[1])), None)
        if slot is None and len(ring) < BATCH_BUFFERS:
            slot = [torch.empty((max(int(self.max_batch), k), *frame_shape), dtype=torch.uint8,
                                pin_memory=pin), []]
            ring.append(slot)
        if slot is None:  # every pinned buffer is still read: plain memory for this batch
            return u8.cpu().numpy(), None
        claim = _Claim(slot)
        slot[1] = [weakref.ref(claim)]
        slot[0][:k].copy_(u8, non_blocking=pin)
        return slot[0][:k].numpy(), claim

    # ---------------------------------------------------------------------------------------
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
        self._check_output(image)
        if image.shape[0] < 1:
            raise ValueError(f"generator returned shape {tuple(image.shape)}, expected (N, C, H, W)")
        u8 = self._to_u8(image[:1])[0]
        if u8.device.type == "cpu":
            return u8.numpy(), None  # a fresh tensor each frame: the array owns its memory
        if not live or u8.device.type != "cuda":  # pinned buffers and GL upload: CUDA only
            return u8.cpu().numpy(), None
        host = self._pinned_buffer(u8.shape)
        host.copy_(u8, non_blocking=True)
        gl_rows = u8.flip(0).contiguous()  # bottom row first, as OpenGL stores a texture
        torch.cuda.current_stream(u8.device).synchronize()  # both ready before anyone reads them
        return host.numpy(), gl_rows

    def _check_output(self, image) -> None:
        """A generator's output must be an (N, C, H, W) floating tensor of the size it has
        rendered so far (or `size`): a plugin that changes its picture size mid-show, or returns
        something else, fails that frame; the last good picture stays."""
        if not isinstance(image, torch.Tensor):
            raise TypeError(f"generator returned {type(image).__name__}, expected a torch tensor (N, C, H, W)")
        if image.ndim != 4 or image.shape[1] < 1 or image.shape[2] < 1 or image.shape[3] < 1:
            raise ValueError(f"generator returned shape {tuple(image.shape)}, expected (N, C, H, W)")
        if not image.is_floating_point():
            raise TypeError(f"generator returned {image.dtype} pixels, expected floats in [-1, 1]")
        hw = (int(image.shape[2]), int(image.shape[3]))
        if self._expected_hw is None:
            self._expected_hw = hw
        elif hw != self._expected_hw:
            raise ValueError(f"generator returned {hw[1]}x{hw[0]} pictures, expected "
                             f"{self._expected_hw[1]}x{self._expected_hw[0]} (the size it rendered at first)")

    @staticmethod
    def _to_u8(images: torch.Tensor) -> torch.Tensor:
        """(N, C, H, W) float in [-1, 1] -> (N, H, W, 3) uint8 RGB on the same device."""
        if not torch.isfinite(images).all():
            raise FloatingPointError("generator output contains NaN or Inf")
        channels = images.shape[1]
        if channels == 1:
            images = images.expand(-1, 3, -1, -1)
        elif channels == 2:
            raise ValueError("generator returned 2 channels; expected 1 (grey), 3 (RGB) or more")
        else:
            images = images[:, :3]
        return to_uint8(images)

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


_LIVE: "weakref.WeakSet[InferenceWorker]" = weakref.WeakSet()  # workers with a thread not yet closed


def close_all_workers(timeout: float = 5.0) -> bool:
    """Close every worker still running (the command line calls it before exit).  False when a
    generator thread is still inside the network after `timeout`: the caller then ends the
    process with os._exit, since letting the interpreter tear torch down under a running thread
    aborts it ("terminate called without an active exception", status 134)."""
    deadline = time.monotonic() + timeout
    ok = True
    for worker in list(_LIVE):
        ok = worker.close(max(deadline - time.monotonic(), 0.0)) and ok
    return ok


class _Claim:
    """Holds a batch's pinned buffer taken until the batch's Frames are registered on it."""

    __slots__ = ("slot", "__weakref__")

    def __init__(self, slot: list) -> None:
        self.slot = slot


@dataclass(frozen=True)
class _Endpoint:
    """A request as rendered: its ws (1, num_ws, w_dim) on the device, its transform, its time."""

    ws: torch.Tensor
    transform: np.ndarray | None
    time: float


def _matrix(transform) -> np.ndarray | None:
    return None if transform is None else np.asarray(transform, np.float32).reshape(3, 3)


def _same_matrix(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def interpolate_transform(a, b, f: float) -> np.ndarray:
    """The 3x3 transform f (0..1) of the way from a to b (None: identity).  Rotate/translate
    matrices (the trajectory's) turn by the shorter angle and move in a straight line, so every
    in-between is a rigid motion too; any other matrices are interpolated entry by entry.
    f = 1 gives b exactly."""
    eye = np.eye(3, dtype=np.float32)
    a = eye if a is None else np.asarray(a, np.float32).reshape(3, 3)
    b = eye if b is None else np.asarray(b, np.float32).reshape(3, 3)
    if f >= 1.0:
        return b.copy()
    if _rigid(a) and _rigid(b):
        ta = math.atan2(float(a[1, 0]), float(a[0, 0]))
        tb = math.atan2(float(b[1, 0]), float(b[0, 0]))
        turn = (tb - ta + math.pi) % (2 * math.pi) - math.pi
        angle = ta + turn * f
        c, s = math.cos(angle), math.sin(angle)
        out = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]], np.float32)
        out[:2, 2] = a[:2, 2] + (b[:2, 2] - a[:2, 2]) * f
        return out
    return (a + (b - a) * f).astype(np.float32)


def _rigid(m: np.ndarray) -> bool:
    r = m[:2, :2].astype(np.float64)
    return (np.allclose(m[2], (0.0, 0.0, 1.0), atol=1e-5) and np.allclose(r @ r.T, np.eye(2), atol=1e-4)
            and np.linalg.det(r) > 0)



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
