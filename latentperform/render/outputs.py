"""Video out to other programs: NDI, a virtual camera, Spout/Syphon.

A sink takes finished frames ((H, W, 3) uint8, top row first) and hands them to another program.
Every sink is optional: when its package or device is missing, `open()` raises `OutputUnavailable`
with one line that says what to install or load, and the show goes on without it.

Sending never runs on the render thread: `FrameSender` owns a sink and a thread, and `push()`
only puts the frame in a small queue.  When the sink falls behind, the oldest waiting frame is
dropped (the newest picture wins) and counted; the render loop is never slowed.
"""

from __future__ import annotations

import glob
import logging
import os
import sys
import threading
import time
from fractions import Fraction

import numpy as np

log = logging.getLogger("latentperform.outputs")

NDI_EXTRA = "pip install 'latentperform[ndi]'"
VIRTUALCAM_EXTRA = "pip install 'latentperform[virtualcam]'"
V4L2LOOPBACK_HINT = ("load one with: sudo modprobe v4l2loopback devices=1 exclusive_caps=1 "
                     "card_label=latentperform (Debian/Ubuntu package v4l2loopback-dkms)")


class OutputUnavailable(Exception):
    """A video output cannot run on this machine; the message is one line saying why and what to do."""


class Sink:
    """Where frames go.  `open` may raise OutputUnavailable; `send` runs on the sender's thread:
    it checks the frame, opens again at a new size when the output was resized, and `_write`s."""

    label = "output"
    _fps = 30.0

    @property
    def size(self) -> tuple[int, int] | None:
        """The frame size it is open for (None: not open)."""
        return None

    def open(self, size: tuple[int, int], fps: float) -> None:
        raise NotImplementedError

    def send(self, frame: np.ndarray) -> None:
        frame = _check_frame(frame)
        h, w = frame.shape[:2]
        if self.size != (w, h):  # the output was resized: open again with the new format
            self.open((w, h), self._fps)
        self._write(frame)

    def _write(self, frame: np.ndarray) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


def _check_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"a video output takes uint8 (H, W, 3) frames, got "
                         f"{getattr(frame, 'dtype', type(frame).__name__)} {getattr(frame, 'shape', '')}")
    return frame


# -- NDI ------------------------------------------------------------------------------------------


class NdiSink(Sink):
    """An NDI source named `name` on the local network (cyndilib, which bundles the NDI runtime).

    Receivers (OBS with the NDI plugin, TouchDesigner, Resolume, NDI Studio Monitor...) find it as
    'HOSTNAME (name)'.  Frames go out as RGBX; the engine paces them, NDI does not clock them.
    """

    def __init__(self, name: str = "latentperform") -> None:
        self.name = name
        self.label = f"NDI {name!r}"
        self._sender = None
        self._buf: np.ndarray | None = None
        self._fps = 30.0

    @staticmethod
    def _module():
        try:
            import cyndilib
        except ImportError:
            raise OutputUnavailable(f"NDI output needs cyndilib: {NDI_EXTRA}") from None
        except OSError as e:  # the bundled NDI runtime did not load
            raise OutputUnavailable(f"NDI output: the NDI runtime did not load ({e})") from None
        return cyndilib

    def open(self, size: tuple[int, int], fps: float) -> None:
        cyndilib = self._module()
        from cyndilib.wrapper.ndi_structs import FourCC

        self.close()
        w, h = int(size[0]), int(size[1])
        self._fps = float(fps)
        try:
            sender = cyndilib.Sender(self.name, clock_video=False)
            frame = cyndilib.VideoSendFrame()
            frame.set_resolution(w, h)
            frame.set_frame_rate(Fraction(self._fps).limit_denominator(1001))
            frame.set_fourcc(FourCC.RGBX)
            sender.set_video_frame(frame)
            sender.open()
        except Exception as e:
            raise OutputUnavailable(f"NDI output: cannot start the NDI sender ({e})") from None
        self._sender = sender
        self._buf = np.full((h, w, 4), 255, dtype=np.uint8)

    @property
    def size(self) -> tuple[int, int] | None:
        return None if self._buf is None else (self._buf.shape[1], self._buf.shape[0])

    def connections(self) -> int:
        """How many receivers are connected now."""
        return int(self._sender.get_num_connections(0.0)) if self._sender is not None else 0

    def _write(self, frame: np.ndarray) -> None:
        self._buf[..., :3] = frame
        if not self._sender.write_video(self._buf.reshape(-1)):
            raise RuntimeError("the NDI sender refused the frame")

    def close(self) -> None:
        if self._sender is not None:
            try:
                self._sender.close()
            finally:
                self._sender = None
                self._buf = None


# -- virtual camera -------------------------------------------------------------------------------


def loopback_devices() -> list[str]:
    """The v4l2loopback devices this machine has (Linux: virtual video4linux devices); [] elsewhere."""
    return [f"/dev/{os.path.basename(d)}" for d in sorted(glob.glob("/sys/devices/virtual/video4linux/video*"))
            if os.path.exists(f"/dev/{os.path.basename(d)}")]


class VirtualCamSink(Sink):
    """A virtual webcam (pyvirtualcam): v4l2loopback on Linux, OBS's virtual camera on Windows and
    macOS.  Video-call programs, browsers and OBS see the show as a camera."""

    def __init__(self, device: str | None = None) -> None:
        self.device = device
        self.label = f"virtual camera{' ' + device if device else ''}"
        self._cam = None
        self._size: tuple[int, int] | None = None
        self._fps = 30.0

    def open(self, size: tuple[int, int], fps: float) -> None:
        try:
            import pyvirtualcam
        except ImportError:
            raise OutputUnavailable(f"virtual camera output needs pyvirtualcam: {VIRTUALCAM_EXTRA}") from None
        self.close()
        if sys.platform.startswith("linux"):
            if self.device is not None and not os.path.exists(self.device):
                raise OutputUnavailable(f"virtual camera: {self.device} does not exist; {V4L2LOOPBACK_HINT}")
            if self.device is None and not loopback_devices():
                raise OutputUnavailable(f"virtual camera: no v4l2loopback device (/dev/video*); "
                                        f"{V4L2LOOPBACK_HINT}")
        w, h = int(size[0]), int(size[1])
        self._fps = float(fps)
        try:
            self._cam = pyvirtualcam.Camera(w, h, self._fps, fmt=pyvirtualcam.PixelFormat.RGB,
                                            device=self.device)
        except Exception as e:  # pyvirtualcam says what is missing (OBS, the loopback module...)
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            hint = f"; {V4L2LOOPBACK_HINT}" if sys.platform.startswith("linux") else ""
            raise OutputUnavailable(f"virtual camera: {first}{hint}") from None
        self._size = (w, h)
        self.label = f"virtual camera {getattr(self._cam, 'device', '') or ''}".strip()

    @property
    def size(self) -> tuple[int, int] | None:
        return self._size

    def _write(self, frame: np.ndarray) -> None:
        self._cam.send(np.ascontiguousarray(frame))

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.close()
            finally:
                self._cam = None
                self._size = None


# -- Spout / Syphon ---------------------------------------------------------------------------------

PLATFORM_ONLY = ("{what} is {only}: on this system send video with NDI ({ndi}) "
                 "or a virtual camera ({vcam})")


class SharedTextureSink(Sink):
    """Spout (Windows) and Syphon (macOS) share a GPU texture with programs on the same machine.

    Not implemented yet on the platforms that have them; elsewhere a clear message says so."""

    PLATFORMS = {"spout": ("win32", "Windows-only"), "syphon": ("darwin", "macOS-only")}

    def __init__(self, kind: str) -> None:
        if kind not in self.PLATFORMS:
            raise ValueError(f"unknown shared-texture output {kind!r}")
        self.kind = kind
        self.label = kind.capitalize()

    def open(self, size: tuple[int, int], fps: float) -> None:
        platform, only = self.PLATFORMS[self.kind]
        if sys.platform != platform:
            raise OutputUnavailable(PLATFORM_ONLY.format(what=self.label, only=only, ndi=NDI_EXTRA,
                                                         vcam=VIRTUALCAM_EXTRA))
        raise OutputUnavailable(f"{self.label} output is not implemented yet: send video with NDI ({NDI_EXTRA})")

    def send(self, frame: np.ndarray) -> None:
        raise RuntimeError(f"{self.label} output is not open")


def make_sink(spec: str) -> Sink:
    """'ndi', 'ndi:NAME', 'virtualcam', 'virtualcam:/dev/video4', 'spout', 'syphon'."""
    kind, _, arg = str(spec).partition(":")
    kind = kind.strip().lower()
    if kind == "ndi":
        return NdiSink(arg or "latentperform")
    if kind == "virtualcam":
        return VirtualCamSink(arg or None)
    if kind in SharedTextureSink.PLATFORMS:
        return SharedTextureSink(kind)
    raise ValueError(f'unknown video output "{spec}": expected "ndi", "virtualcam", "spout" or "syphon"')


# -- the sending thread -----------------------------------------------------------------------------


class FrameSender:
    """Runs `sink.send` on its own thread, fed through a queue of at most `depth` frames.

    `push(frame)` never blocks: when the queue is full the oldest waiting frame is dropped and
    counted in `dropped` (newest wins).  The frame must not be changed after it is pushed.  A sink
    that fails is closed and stops receiving; `error` says why.
    """

    def __init__(self, sink: Sink, depth: int = 2) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.sink = sink
        self.depth = depth
        self.pushed = 0
        self.sent = 0
        self.dropped = 0
        self.error: str | None = None
        self.send_ms = 0.0  # how long the newest send took
        self._pending: list[np.ndarray] = []
        self._cond = threading.Condition()
        self._closing = False
        self._thread = threading.Thread(target=self._run, name=f"lp-out-{sink.label}", daemon=True)
        self._thread.start()

    @property
    def alive(self) -> bool:
        return self.error is None and not self._closing

    def push(self, frame: np.ndarray) -> bool:
        """Queue a frame for sending; False when the sender has stopped (closed or failed)."""
        with self._cond:
            if not self.alive:
                return False
            self.pushed += 1
            self._pending.append(frame)
            while len(self._pending) > self.depth:
                self._pending.pop(0)
                self.dropped += 1
            self._cond.notify()
        return True

    @property
    def queued(self) -> int:
        with self._cond:
            return len(self._pending)

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    self._cond.wait()
                if not self._pending:  # closing, nothing left to send
                    return
                frame = self._pending.pop(0)
            t0 = time.perf_counter()
            try:
                self.sink.send(frame)
            except Exception as e:
                with self._cond:
                    self.error = f"{self.sink.label}: {e}"
                    self._pending.clear()
                log.debug("video output stopped: %s", self.error)  # the owner reports `error`
                try:
                    self.sink.close()
                except Exception:
                    pass
                return
            self.send_ms = (time.perf_counter() - t0) * 1e3
            with self._cond:
                self.sent += 1

    def close(self, timeout: float = 5.0) -> None:
        """Send what is queued (within `timeout`), stop the thread, close the sink."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("%s: the sender did not stop within %.0f s", self.sink.label, timeout)
            return
        try:
            self.sink.close()
        except Exception as e:
            log.debug("closing %s: %s", self.sink.label, e)

    def status(self) -> str:
        """One line for the overlay."""
        if self.error:
            return f"{self.sink.label}: stopped ({self.error})"
        return f"{self.sink.label}: {self.sent} sent, {self.dropped} dropped"
