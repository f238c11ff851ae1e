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
    t           tap tempo (/lp/tap)
    q, escape   quit; a second press within QUIT_CONFIRM_S seconds confirms

Key actions that change the show go in as control events ("key" source: `param/engine/blackout`,
`trigger/latent/keyframe/next`, `param/stage/record` ...), so `--log-events` keeps them and a
replay does the same.

Show commands are parameters (patch.params.show_param_specs, registered by StagePart), so OSC
(`/lp/record 1`, `/lp/screenshot`, `/lp/overlay 0`, `/lp/quit`), a MIDI mapping, the control
room or a key all reach them the same way:

    stage/record      1 starts recording, 0 stops (the key r sets it; it follows what really
                     happens: a recording that cannot start puts it back to 0)
    stage/overlay     1 shows the overlay, 0 hides it (key h)
    stage/screenshot  fires: a PNG of the next frame (key s)
    stage/quit        fires: the first asks, a second within QUIT_CONFIRM_S seconds quits (key q)
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
from ..patch.params import QUIT_CONFIRM_S, show_param_specs
from .part import EnginePart


log = logging.getLogger("latentperform.engine")

QUIT_PROMPT = "press q again to quit (or send /lp/quit again)"
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
        self._shown: dict[str, float] = {}    # stage/record, stage/overlay: the state last acted on

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

    def param_specs(self):
        return show_param_specs()

    def quit(self, engine) -> None:
        """Key q, /lp/quit: the first asks, a second within QUIT_CONFIRM_S seconds stops."""
        if time.monotonic() < self._quit_until:
            engine.clear_notice(QUIT_PROMPT)
            engine.request_stop()
        else:
            self._quit_until = time.monotonic() + QUIT_CONFIRM_S
            engine.notice(QUIT_PROMPT, seconds=QUIT_CONFIRM_S, urgent=True)

    def _set(self, engine, name: str, on: bool) -> None:
        self._events.append(ControlEvent("key", f"param/{name}", 1.0 if on else 0.0, engine.clock.now()))

    def on_key(self, engine, key: str) -> bool:
        now = engine.clock.now()
        if key in ("q", "escape"):
            self.quit(engine)
            return True
        if key in ("f", "f11"):
            engine.surface.toggle_fullscreen()
            return True
        if key == "h":
            self._set(engine, "stage/overlay", not engine.hud_visible)
            return True
        if key == "r":
            self._set(engine, "stage/record", not self.recording(engine))
            return True
        if key == "s":
            self._events.append(ControlEvent("key", "trigger/stage/screenshot", 1.0, now))
            return True
        if key == "b":
            on = engine.params.get("engine/blackout") < 0.5
            self._events.append(ControlEvent("key", "param/engine/blackout", 1.0 if on else 0.0, now))
            return True
        if key == "space":
            on = engine.params.get("engine/freeze") < 0.5
            self._events.append(ControlEvent("key", "param/engine/freeze", 1.0 if on else 0.0, now))
            return True
        if key == "t":
            self._events.append(ControlEvent("key", "trigger/clock/tap", 1.0, now))
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

    def recording(self, engine) -> bool:
        return engine.recorder is not None or self._starting or self._new_recorder is not None

    def _follow(self, engine, params) -> None:
        """Act on the show commands of this tick, and put stage/record and stage/overlay back to
        what is really so when something else changed it (a recording that could not start,
        --record, --overlay, the patch's overlay)."""
        for name, arg in params.triggers:
            if name == "stage/screenshot":
                self._shots.append(self._new_path(engine, ".png"))
            elif name == "stage/quit":
                self.quit(engine)
        for name, actual, act in (("stage/record", self.recording(engine), self.toggle_recording),
                                  ("stage/overlay", bool(engine.hud_visible),
                                   lambda e: e.toggle_overlay())):
            value = params.values.get(name)
            if value is None:
                continue
            last, self._shown[name] = self._shown.get(name, 0.0), value   # (0: the specs' default)
            if (value >= 0.5) != actual:
                if last != value:
                    act(engine)                        # the parameter moved: do it
                else:
                    self._set(engine, name, actual)    # reality moved (--record, --overlay, a failed start)

    def after_frame(self, engine, params, t: float) -> None:
        self._follow(engine, params)
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
            if s["frames"] >= 2 and s["frame_ms_median"] == s["frame_ms_median"]:  # not before frames
                fb.send("/lp/frame_ms", _f(s["frame_ms_median"]), _f(s["frame_ms_p99"]))
                fb.send("/lp/stutter", _f(s["stutter"]))
            if s["gen_ms"] > 0:
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
                self._new_recorder = Recorder(path, size, fps, keep_time=True)
            except Exception as e:
                self._messages.append((True, f"cannot record to {path}: {e}"))
            finally:
                self._starting = False

        self._spawn(start)

    def _finish(self, engine, rec) -> None:
        try:
            rec.close()
            if rec.error:  # stopped early (a full disk): say so, and what is kept
                self._messages.append((True, rec.error))
                if Path(rec.path).exists():
                    self.recordings.append(Path(rec.path))
                return
            self.recordings.append(Path(rec.path))
            self._messages.append((False, f"recorded {rec.path} ({recording_figures(rec)})"))
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


def recording_figures(rec) -> str:
    """'N frames, R repeated to keep the show's time, D dropped' for a finished recording."""
    repeated = getattr(rec, "repeated", 0)
    return (f"{rec.written} frames" + (f", {repeated} repeated to keep the show's time" if repeated else "")
            + f", {rec.dropped} dropped")


def _f(v: float) -> float:
    return float(v) if v == v else -1.0


STABLE_S = 0.3  # a changed patch file is read once it has not changed for this long


class PatchWatcher(EnginePart):
    """Follows edits of the show's patch file: a thread looks at its mtime every `interval`
    seconds and parses a changed file; the next tick applies a valid patch
    (`Engine.apply_patch`) or reports why an invalid one was not applied (file:line), and the
    show keeps its last good patch.  A file is read once it has stayed unchanged for STABLE_S;
    one that is empty (or only comments) or gone is reported and never applied: an editor that
    truncates before it writes must not drop every mapping mid-show.  Shader files are checked on the same beat
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
            if now == self._mtime:
                continue
            # an editor may write in several steps (truncate, then write; write a temporary file,
            # then rename): parse once the file has stayed the same for STABLE_S
            stable_since = time.monotonic()
            while not self._stop.wait(min(0.05, self.interval)):
                again = self._stat()
                if again != now:
                    now, stable_since = again, time.monotonic()
                elif time.monotonic() - stable_since >= STABLE_S:
                    break
            self._mtime = now
            if now is None:  # deleted, or renamed away and not (yet) back
                result = ("error", f"{self.path}: the patch file is gone (moved or deleted?)")
            elif now[1] == 0 or not self._has_content():
                result = ("error", f"{self.path}: the patch file is empty (an editor in the middle of "
                                   f"saving?)")
            else:
                try:
                    result = ("ok", load_patch(self.path))
                except UserError as e:
                    result = ("error", str(e))
                except Exception as e:  # a parser bug must not end the watching
                    result = ("error", f"{self.path}: {e!r}")
            with self._lock:
                self._result = result

    def _has_content(self) -> bool:
        """False for a file of only blanks and comments: applying it would drop every mapping."""
        try:
            text = self.path.read_bytes()
        except OSError:
            return False
        return any(line.strip() and not line.lstrip().startswith(b"#") for line in text.splitlines())

    def poll(self, engine, t: float) -> list[ControlEvent]:
        with self._lock:
            result, self._result = self._result, None
        if result is not None:
            kind, value = result
            if kind == "ok":
                if value != engine.patch:   # equal: the show wrote it itself (learn, undo)
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
