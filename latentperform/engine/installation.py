"""Installation mode's parts: the service manager's watchdog and state file, opening hours, and
playing in step with other instances (service/ holds the machinery; this attaches it to a show).

    ServicePart   READY once frames are presented, WATCHDOG=1 only from after_frame (so only
                  while frames really reach the screen), STATUS, and the state file `status` reads
    HoursPart     outside the opening hours: fade to black, then freeze (no inference: the
                  generator idles, the GPU cools) at a low frame rate; back at opening; the
                  daily restart (the show ends; systemd or --supervise starts it again)
    InStep        the lockstep loop of a leader or a follower (service/sync.py): every instance
                  renders frame k with the same events at time k / fps and presents it at the
                  leader's wall-clock moment for k
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from datetime import datetime

from ..events import ControlEvent
from ..service import memory
from ..service.notify import Notifier
from ..service.state import StateWriter, state_path
from .part import EnginePart

log = logging.getLogger("latentperform.engine")

SOURCE = "installation"       # the source of the events the hours part makes
STATE_EVERY_S = 2.0
TRIM_EVERY_S = 60.0           # freed memory given back to the system this often (service/memory.py)
CLOSED_FPS = 5.0              # the frame rate while closed and black (the watchdog still sees frames)


class ServicePart(EnginePart):
    """The show's side of the service manager (systemd, or `run --supervise`).

    The watchdog is pinged from `after_frame`, which the engine calls after each present: a
    render loop that stops presenting (a hung driver, a deadlocked input) stops the pings, and
    the manager restarts the process.  `alive()` pings for a loop that is deliberately not
    presenting (a follower holding for its leader).  Once a minute it gives the memory freed
    meanwhile back to the system (malloc_trim, service/memory.py: the resident size stays flat
    over days), right after a present; the state file says the resident size and the trim's cost."""

    def __init__(self, name: str | None, *, notifier: Notifier | None = None, state_file=None,
                 every: float = STATE_EVERY_S) -> None:
        self.name = name
        self.notifier = notifier or Notifier()
        self.every = float(every)
        path = state_file if state_file is not None else (state_path(name) if name else None)
        self.writer = StateWriter(path) if path is not None else None
        self.started = time.time()
        self.frames = 0
        self.extra: dict = {}                 # other parts' lines for the state file (hours, sync)
        self._written = -1e9
        self._state_error_reported = None
        self._trimmed = time.monotonic()
        self.trim_ms: float | None = None   # the last trim's cost

    def alive(self) -> None:
        self.notifier.watchdog()

    def after_frame(self, engine, params, t) -> None:
        self.frames += 1
        now = time.monotonic()
        if self.frames == 1:
            self.notifier.ready(f"playing {engine.patch.name or 'the patch'}")
        self.notifier.watchdog(now)
        if now - self._trimmed >= TRIM_EVERY_S:
            self._trimmed = now
            took = memory.trim()
            self.trim_ms = None if took is None else round(took * 1e3, 2)
        if now - self._written >= self.every:
            self._written = now
            self.write_state(engine)

    def state(self, engine) -> dict:
        s = engine.stats.summary()
        errors = list(engine.stats.errors)
        generator = type(engine.generator).__name__
        return {"pid": os.getpid(), "name": self.name, "patch": str(engine.patch.source_path or ""),
                "started": self.started, "updated": time.time(), "frames": s["frames"],
                "fps": round(s["fps"], 2) if s["fps"] == s["fps"] else 0.0,
                "frame_ms_p99": round(s["frame_ms_p99"], 2) if s["frame_ms_p99"] == s["frame_ms_p99"] else 0.0,
                "errors": len(errors), "last_errors": errors[-5:], "generator": generator,
                "gl_renewals": engine.gl.renewals, "rss_mib": _mib(memory.rss_bytes()),
                "trim_ms": self.trim_ms, **self.extra}

    def write_state(self, engine) -> None:
        st = self.state(engine)
        self.notifier.status(f"{st['fps']:.1f} fps, {st['frames']} frames, {st['errors']} errors"
                             + (f", {self.extra['state']}" if self.extra.get("state") else ""))
        if self.writer is not None:
            self.writer.put(st)
            if self.writer.error and self.writer.error != self._state_error_reported:
                self._state_error_reported = self.writer.error
                engine.report(self.writer.error)

    def close(self) -> None:
        self.notifier.stopping()
        self.notifier.close()
        if self.writer is not None:
            self.writer.close()


def _mib(n: int | None) -> float | None:
    return None if n is None else round(n / 2 ** 20, 1)


class HoursPart(EnginePart):
    """Opening hours: `param/engine/blackout` ramps to 1 over `fade` seconds at closing time,
    then `param/engine/freeze` stops the generator and the frame rate drops to CLOSED_FPS; at
    opening the generator starts first, then the picture fades in.  The events go in through
    the door like a performer's (so an event log keeps them and a leader sends them on).

    `now` gives local time (a test passes its own); `service` (a ServicePart) gets the state."""

    def __init__(self, hours, *, fade: float = 5.0, now=datetime.now, service: ServicePart | None = None,
                 lower_fps: bool = True, check_every: float = 0.25) -> None:
        self.hours = hours
        self.fade = max(float(fade), 0.0)
        self.now = now
        self.service = service
        self.lower_fps = lower_fps
        self.check_every = float(check_every)  # how often the local time is looked at
        self.started = now()
        self.level = 0.0            # the blackout this part last sent (the show starts unblacked)
        self.frozen = False
        self.open = True
        self.restarting = False
        self._checked = -1e9
        self._last_t: float | None = None
        self._fps: float | None = None

    def poll(self, engine, t) -> list[ControlEvent]:
        out: list[ControlEvent] = []
        dt = 0.0 if self._last_t is None else max(t - self._last_t, 0.0)
        self._last_t = t
        wall = time.monotonic()
        if wall - self._checked >= self.check_every:
            self._checked = wall
            now = self.now()
            self.open = self.hours.is_open(now)
            if not self.restarting and self.hours.restart_due(self.started, now):
                self.restarting = True
                engine.notice("daily restart", 5.0)
                log.info("installation: the daily restart (%s)", self.hours.describe())
                engine.request_stop()
        want = 0.0 if self.open else 1.0
        if self.open and self.frozen:  # the generator first: the picture is there when it shows
            self.frozen = False
            out.append(ControlEvent(SOURCE, "param/engine/freeze", 0.0, t))
            if self._fps is not None:
                engine.fps, self._fps = self._fps, None
        if self.level != want:
            step = dt / self.fade if self.fade > 0 else 1.0
            self.level = min(self.level + step, want) if want > self.level else max(self.level - step, want)
            out.append(ControlEvent(SOURCE, "param/engine/blackout", self.level, t))
        if not self.open and self.level >= 1.0 and not self.frozen:
            self.frozen = True
            out.append(ControlEvent(SOURCE, "param/engine/freeze", 1.0, t))
            if self.lower_fps and engine.fps > CLOSED_FPS:
                self._fps, engine.fps = engine.fps, CLOSED_FPS
        if self.service is not None:
            self.service.extra["state"] = self.state_text()
        return out

    def state_text(self) -> str:
        if self.restarting:
            return "daily restart"
        if self.open:
            return "open" if self.level == 0.0 else "opening"
        return "closed (generator idle)" if self.frozen else "closing"

    def status_lines(self, engine) -> list[str]:
        return [f"hours: {self.state_text()}; {self.hours.describe()}"]


class ModelFallback(EnginePart):
    """An unattended show whose model keeps failing plays the built-in generator instead.

    "Keeps failing": at least `failures` failed pictures in a row and no good one for `after_s`
    seconds (an exception every frame, out of memory again and again, NaN pictures), or no
    picture at all for `stuck_s` seconds once the model has rendered (a network that hangs;
    `first_s` before its first picture, which may take long on a big model).  Until then the
    show keeps the last good picture, as an attended show always does.  `load_builtin()` makes
    the built-in generator (engine/show.py passes it: this module does not load models).  Once
    swapped it stays swapped until the next start (the service manager's restart, or the daily
    one, tries the model again)."""

    def __init__(self, load_builtin, *, after_s: float = 10.0, failures: int = 3,
                 stuck_s: float = 30.0, first_s: float = 120.0) -> None:
        self.load_builtin = load_builtin
        self.after_s, self.failures = float(after_s), int(failures)
        self.stuck_s, self.first_s = float(stuck_s), float(first_s)
        self.swapped: str | None = None   # why, once the built-in plays

    def why(self, tick, t: float) -> str | None:
        """The reason to fall back now, or None."""
        if tick.model_ok_at is None:
            return None
        quiet = t - tick.model_ok_at
        if tick.model_failures >= self.failures and quiet >= self.after_s:
            return f"{tick.model_error} ({tick.model_failures} failed pictures in {quiet:.0f} s)"
        if tick.model_failures == 0 and quiet >= (self.stuck_s if tick.model_pictures else self.first_s):
            return f"no picture from the model for {quiet:.0f} s"
        return None

    def after_frame(self, engine, params, t) -> None:
        if self.swapped is not None:
            return
        why = self.why(engine.ticker, t)
        if why is None:
            return
        self.swapped = why
        try:
            generator = self.load_builtin()
        except Exception as e:  # nothing to fall back to: keep the last good picture
            engine.report(f"model keeps failing ({why}); the built-in generator did not load either: {e}")
            return
        log.warning("installation: the model keeps failing (%s); playing the built-in generator", why)
        engine.swap_generator(generator, f"model keeps failing: {why}; playing the built-in generator instead")

    def status_lines(self, engine) -> list[str]:
        return ["model: the built-in generator (the model kept failing)"] if self.swapped else []


def service_name(name: str | None = None) -> str | None:
    """The show's service name: given (run --name), else the one systemd or --supervise set
    (LP_SERVICE_NAME), else None (not an installation)."""
    return name or os.environ.get("LP_SERVICE_NAME") or None


def unattended() -> bool:
    """True when a service manager runs this show (systemd's or --supervise's notify socket, or
    an installed unit's name): nobody is there to read an error at start."""
    return bool(os.environ.get("NOTIFY_SOCKET") or os.environ.get("LP_SERVICE_NAME"))


def attach_installation(engine, *, name: str | None = None, lead: bool = True,
                        load_builtin=None) -> ServicePart | None:
    """What an installed show attaches: the service part when a manager or a name asks for it,
    the model fallback when unattended (`[installation] fallback`, and `load_builtin` given),
    the opening hours when the patch has them (on a follower the leader's hours arrive as its
    events, so `lead` False leaves them out)."""
    name = service_name(name)
    service = None
    notifier = Notifier()
    if notifier.enabled or name:
        service = engine.add_part(ServicePart(name, notifier=notifier))
    inst = getattr(engine.patch, "installation", None)
    if load_builtin is not None and unattended() and getattr(inst, "fallback", False) \
            and getattr(engine.generator, "kind", None) != "builtin":
        engine.add_part(ModelFallback(load_builtin))
    if lead:
        add_hours(engine, service)
    return service


def add_hours(engine, service: ServicePart | None, *, lower_fps: bool = True) -> "HoursPart | None":
    """The opening-hours part, when the patch's [installation] has hours, days or a restart."""
    inst = getattr(engine.patch, "installation", None)
    if inst is None or not (inst.hours or inst.days or inst.restart):
        return None
    hours = inst.opening_hours()
    log.info("installation: %s", hours.describe())
    return engine.add_part(HoursPart(hours, fade=inst.fade, service=service, lower_fps=lower_fps))


def frame_hash(pixels) -> int:
    """A checksum of a frame's pixels (same pictures on every instance have the same one)."""
    return zlib.crc32(memoryview(pixels).cast("B")) if pixels is not None else 0
