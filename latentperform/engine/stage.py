"""On stage: the performer's keys, recording and screenshots from the keyboard, the figures sent
to OSC hosts, and a running show following edits of its patch file.

Keys (StagePart, attached to every live engine):

    f, f11      fullscreen on / off
    h           status overlay on / off
    r           record start / stop (a timestamped .mp4 next to the patch, or in the current folder)
    s           screenshot (.png, same place)
    b           blackout on / off (a fade; /lp/blackout does the same)
    space       freeze the picture / go on (/lp/freeze)
    left, right previous / next keyframe (a glide)
    q, escape   quit; a second press within QUIT_CONFIRM_S seconds confirms

Key actions that change the show go in as control events ("key" source: `param/engine/blackout`,
`trigger/latent/keyframe/next` ...), so `--log-events` keeps them and a replay does the same.
Nothing here waits on the render thread: the encoder starts and finishes on its own thread, PNGs
are written on another, and the patch file is watched and parsed on a third.
"""

from __future__ import annotations

import collections
import logging
import os
import threading
import time
from datetime import datetime
from pathlib import Path

import numpy as np

from ..events import ControlEvent
from .part import EnginePart

log = logging.getLogger("latentperform.engine")

QUIT_CONFIRM_S = 2.0
QUIT_PROMPT = "press q again to quit"
FEEDBACK_EVERY_S = 1.0


def _timestamp() -> str:
    return datetime.now().strftime("%Y%m%d-%H%M%S")


class StagePart(EnginePart):
    """The stage keys, the recording started by a key, screenshots, and the show's figures over
    OSC (`/lp/latency` median p99 (ms), `/lp/frame_ms` median p99, `/lp/stutter`, `/lp/gen_ms`,
    `/lp/recording`, once a second, to the patch's OSC targets)."""

    def __init__(self, folder: str | os.PathLike | None = None) -> None:
        self.folder = Path(folder) if folder is not None else None
        self._events: list[ControlEvent] = []
        self._quit_until = -1e9
        self._shots: list[Path] = []          # screenshots waiting for this frame's pixels
        self._starting = False                # a recorder is being started on its own thread
        self._new_recorder = None             # ... and lands here
        self._record_started = 0.0
        self._threads: list[threading.Thread] = []
        self._feedback_at = -1e9
        self._messages: collections.deque = collections.deque()  # from worker threads: (is_error, text)
        self._reserved: set[Path] = set()     # names given out (files may not exist yet)
        self.saved: list[Path] = []           # screenshots written (for tests and the overlay)
        self.recordings: list[Path] = []      # videos finished

    # -- where files go -------------------------------------------------------------------------

    def output_folder(self, engine) -> Path:
        """Next to the patch (unless it is the built-in one, or that folder is read-only), else
        the current folder."""
        if self.folder is not None:
            return self.folder
        from ..config import DEFAULT_PATCH
        src = getattr(engine.patch, "source_path", None)
        if src is not None and Path(src).resolve() != Path(DEFAULT_PATCH).resolve():
            parent = Path(src).resolve().parent
            if os.access(parent, os.W_OK):
                return parent
        return Path.cwd()

    def _new_path(self, engine, suffix: str) -> Path:
        folder = self.output_folder(engine)
        stem = f"latentperform-{_timestamp()}"
        path = folder / f"{stem}{suffix}"
        k = 2
        while path.exists() or path in self._reserved:  # two presses in one second: two files
            path = folder / f"{stem}-{k}{suffix}"
            k += 1
        self._reserved.add(path)
        return path

    # -- hooks ----------------------------------------------------------------------------------

    @property
    def wants_pixels(self) -> bool:  # only while a screenshot waits for its frame
        return bool(self._shots)

    def on_key(self, engine, key: str) -> bool:
        now = engine.clock.now()
        if key in ("q", "escape"):
            if time.monotonic() < self._quit_until:
                engine.clear_notice(QUIT_PROMPT)
                engine.request_stop()
            else:
                self._quit_until = time.monotonic() + QUIT_CONFIRM_S
                engine.notice(QUIT_PROMPT, seconds=QUIT_CONFIRM_S, urgent=True)
            return True
        if key in ("f", "f11"):
            engine.surface.toggle_fullscreen()
            return True
        if key == "h":
            engine.toggle_overlay()
            return True
        if key == "r":
            self.toggle_recording(engine)
            return True
        if key == "s":
            self._shots.append(self._new_path(engine, ".png"))
            return True
        if key == "b":
            on = engine.params.get("engine/blackout") < 0.5
            self._events.append(ControlEvent("key", "param/engine/blackout", 1.0 if on else 0.0, now))
            return True
        if key == "space":
            on = engine.params.get("engine/freeze") < 0.5
            self._events.append(ControlEvent("key", "param/engine/freeze", 1.0 if on else 0.0, now))
            return True
        if key in ("left", "right"):
            name = "prev" if key == "left" else "next"
            self._events.append(ControlEvent("key", f"trigger/latent/keyframe/{name}", 0.0, now))
            return True
        return False

    def poll(self, engine, t: float) -> list[ControlEvent]:
        if self._new_recorder is not None:
            engine.recorder, self._new_recorder = self._new_recorder, None
            self._record_started = time.monotonic()
            engine.notice(f"recording to {engine.recorder.path}")
        while self._messages:  # what the file threads had to say, told on the render thread
            is_error, text = self._messages.popleft()
            if is_error:
                engine.report(text)
            else:
                engine.notice(text)
        events, self._events = self._events, []
        return events

    def after_frame(self, engine, params, t: float) -> None:
        if self._shots and engine.last_pixels is not None:
            pixels = np.array(engine.last_pixels, copy=True)
            paths, self._shots = self._shots, []
            for path in paths:
                self._spawn(self._save_shot, engine, path, pixels)
        if engine.feedback is not None:
            now = time.monotonic()
            if now - self._feedback_at >= FEEDBACK_EVERY_S:
                self._feedback_at = now
                self.send_figures(engine)

    def send_figures(self, engine) -> None:
        s = engine.stats.summary()
        fb = engine.feedback
        try:
            if s["latency_samples"]:  # nothing to say before the first input
                fb.send("/lp/latency", _f(s["latency_ms_median"]), _f(s["latency_ms_p99"]))
            fb.send("/lp/frame_ms", _f(s["frame_ms_median"]), _f(s["frame_ms_p99"]))
            fb.send("/lp/stutter", _f(s["stutter"]))
            fb.send("/lp/gen_ms", _f(s["gen_ms"]))
            fb.send("/lp/recording", 1 if engine.recorder is not None else 0)
        except OSError as e:
            engine.report(f"OSC feedback: {e}")

    def status_lines(self, engine) -> list[str]:
        rec = engine.recorder
        if rec is not None:
            secs = time.monotonic() - self._record_started if self._record_started else 0.0
            line = (f"REC {int(secs // 60):02d}:{int(secs % 60):02d}  {Path(rec.path).name}  "
                    f"{rec.written} frames, {rec.dropped} dropped")
            if rec.error:
                line += f"  ! {rec.error}"
            return [line]
        if self._starting:
            return ["REC starting..."]
        return ["not recording (r)"]

    def note_recording_started(self) -> None:
        """A recorder given at start (--record): count its time from now."""
        self._record_started = time.monotonic()

    # -- recording --------------------------------------------------------------------------------

    def toggle_recording(self, engine) -> None:
        if self._starting:
            return
        if engine.recorder is not None:
            rec, engine.recorder = engine.recorder, None
            engine.notice(f"recording stopped: {rec.path} ({rec.written} frames, {rec.dropped} dropped)")
            self._spawn(self._finish, engine, rec)
            return
        from ..render.recorder import Recorder
        path = self._new_path(engine, ".mp4")
        size, fps = tuple(engine.surface.size), engine.fps
        self._starting = True

        def start() -> None:
            try:
                self._new_recorder = Recorder(path, size, fps)
            except Exception as e:
                self._messages.append((True, f"cannot record to {path}: {e}"))
            finally:
                self._starting = False

        self._spawn(start)

    def _finish(self, engine, rec) -> None:
        try:
            rec.close()
            self.recordings.append(Path(rec.path))
            self._messages.append((False, f"recorded {rec.path} ({rec.written} frames, {rec.dropped} dropped)"))
        except Exception as e:
            self._messages.append((True, f"finishing {rec.path} failed: {e}"))

    def _save_shot(self, engine, path: Path, pixels: np.ndarray) -> None:
        from ..render.recorder import save_png
        try:
            save_png(path, pixels)
            self.saved.append(path)
            self._messages.append((False, f"screenshot {path}"))
        except Exception as e:
            self._messages.append((True, f"screenshot {path} failed: {e}"))

    def _spawn(self, fn, *args) -> None:
        th = threading.Thread(target=fn, args=args, name="lp-stage", daemon=True)
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(th)
        th.start()

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for screenshots being written and recordings being finished (tests, close)."""
        deadline = time.monotonic() + timeout
        for th in list(self._threads):
            th.join(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.wait()
        if self._new_recorder is not None:  # started but never picked up
            try:
                self._new_recorder.close()
            except Exception:
                pass
            self._new_recorder = None


def _f(v: float) -> float:
    return float(v) if v == v else -1.0


class PatchWatcher(EnginePart):
    """Follows edits of the show's patch file: a thread looks at its mtime every `interval`
    seconds and parses a changed file; the next tick applies a valid patch
    (`Engine.apply_patch`) or reports why an invalid one was not applied (file:line), and the
    show keeps its last good patch.  Shader files are checked on the same beat
    (`ShaderChain.reload_changed`)."""

    def __init__(self, path: str | os.PathLike, interval: float = 1.0, shaders: bool = True) -> None:
        self.path = Path(path)
        self.interval = float(interval)
        self.shaders = shaders
        self.applied = 0
        self.rejected = 0
        self._result = None  # ("ok", patch) or ("error", message), for the render thread
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._mtime = self._stat()
        self._shader_check_at = time.monotonic()
        self._thread = threading.Thread(target=self._watch, name="lp-patch-watch", daemon=True)
        self._thread.start()

    def _stat(self):
        try:
            st = self.path.stat()
            return (st.st_mtime_ns, st.st_size)
        except OSError:
            return None

    def _watch(self) -> None:
        from ..config import UserError
        from ..patch import load_patch
        while not self._stop.wait(self.interval):
            now = self._stat()
            if now is None or now == self._mtime:
                continue
            # an editor may write in several steps: parse once the file stopped changing
            while not self._stop.wait(min(0.1, self.interval)):
                again = self._stat()
                if again == now:
                    break
                now = again
            self._mtime = now
            try:
                result = ("ok", load_patch(self.path))
            except UserError as e:
                result = ("error", str(e))
            except Exception as e:  # a parser bug must not end the watching
                result = ("error", f"{self.path}: {e!r}")
            with self._lock:
                self._result = result

    def poll(self, engine, t: float) -> list[ControlEvent]:
        with self._lock:
            result, self._result = self._result, None
        if result is not None:
            kind, value = result
            if kind == "ok":
                self.applied += 1
                engine.apply_patch(value)
            else:
                self.rejected += 1
                lines = value.splitlines()
                more = f" (and {len(lines) - 1} more)" if len(lines) > 1 else ""
                engine.report(f"patch not reloaded, keeping the last good one: {lines[0]}{more}")
                for line in lines[1:]:
                    log.warning("%s", line)
        if self.shaders:
            now = time.monotonic()
            if now - self._shader_check_at >= self.interval:
                self._shader_check_at = now
                for msg in engine.chain.reload_changed():
                    engine.report(msg)
                names = {spec.name: spec for spec in engine.chain.param_specs()}
                if any(engine.specs.get(n) != spec for n, spec in names.items()):
                    engine.refresh_specs()  # an edited pass has new @param uniforms
        return []

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)
