"""The loop: the only module that wires inputs, patch, latent, models and render together.

One engine tick:

    t = clock.tick()
    events   = every input queue drained (never blocks), coalesced
    params   = mapper.apply(events, params)            pure: patch/
    request  = trajectory.step(params)                 pure: latent/
    worker.submit(request); frame = worker.latest()    models/ (latest wins; offline: in order)
    chain.render(frame) -> surface / recorder          render/

Live, the generator runs in its own thread and the loop never waits for it; offline, the clock is
a fixed step and every request is rendered in order, so the same inputs give the same frames.
"""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from .clock import FixedStepClock, Tempo, WallClock
from .config import UserError
from .events import ControlEvent, EventQueue, ParamSpec, ParamState

log = logging.getLogger("latentperform.engine")

ENGINE_SPECS = [
    ParamSpec("engine/blackout", 0.0, 0.0, 1.0, "fade the output to black (1 = black)", osc="/lp/blackout"),
    ParamSpec("engine/freeze", 0.0, 0.0, 1.0, "hold the current picture (1 = frozen)", osc="/lp/freeze"),
]


@dataclass
class Stats:
    """Rolling figures for the overlay, OSC feedback and benchmarks."""

    frame_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))
    gen_ms: float = 0.0
    frames: int = 0
    errors: collections.deque = field(default_factory=lambda: collections.deque(maxlen=8))

    @staticmethod
    def _pct(values, q):
        return float(np.percentile(np.asarray(values), q)) if values else float("nan")

    @property
    def fps(self) -> float:
        med = self._pct(self.frame_times, 50)
        return 1.0 / med if med and med == med and med > 0 else 0.0

    def summary(self) -> dict:
        ft50, ft99 = self._pct(self.frame_times, 50), self._pct(self.frame_times, 99)
        return {
            "frames": self.frames,
            "fps": self.fps,
            "frame_ms_median": ft50 * 1e3,
            "frame_ms_p99": ft99 * 1e3,
            "stutter": ft99 / ft50 if ft50 and ft50 == ft50 else float("nan"),
            "gen_ms": self.gen_ms,
            "latency_ms_median": self._pct(self.latencies, 50) * 1e3,
            "latency_ms_p99": self._pct(self.latencies, 99) * 1e3,
        }


class Engine:
    """A show: one patch, one generator, one output surface, any number of inputs.

    Build it with `Engine.live(...)` or `Engine.offline(...)`; drive it with `step()` (one tick)
    or `run()`.  Nothing in here raises into the loop: input, model and shader failures become
    messages in `stats.errors` and the show goes on with the last good state.
    """

    def __init__(self, patch, *, surface, clock, fps: float, generator=None, offline: bool = False,
                 feature_track=None, replay=None, recorder=None, event_log=None) -> None:
        from .latent import LatentSpace, Trajectory
        from .models import InferenceWorker, load_generator
        from .patch import Mapper
        from .render import FrameTexture, ShaderChain

        self.patch = patch
        self.surface = surface
        self.clock = clock
        self.fps = float(fps)
        self.offline = offline
        self.feature_track = feature_track
        self.replay = replay
        self.recorder = recorder
        self.event_log = event_log
        self.stats = Stats()
        self.queues: list[EventQueue] = []
        self.inputs: list = []  # objects with close()
        self.feedback = None
        self.frame_index = -1
        self._last_shown_seq = -1
        self._last_tick_wall: float | None = None
        self._error_times: dict[str, float] = {}

        if generator is None:
            import torch
            device = getattr(patch.model, "device", "auto") or "auto"
            if device == "auto":
                device = "cuda" if torch.cuda.is_available() else "cpu"
            # half precision where it is fast (CUDA); float32 on the CPU
            dtype = torch.float16 if str(device).startswith("cuda") else torch.float32
            generator = load_generator(_model_spec(patch), device=device, dtype=dtype)
        self.generator = generator
        space = LatentSpace(z_dim=generator.z_dim, w_dim=generator.w_dim, num_ws=generator.num_ws)
        self.trajectory = Trajectory(patch.trajectory, patch.keyframes, space=space,
                                     directions=_directions_for(generator, patch), seed=patch.model.seed,
                                     cutoff=patch.model.truncation_cutoff)
        self.worker = InferenceWorker(generator, synchronous=offline)

        ctx = surface.ctx
        self.texture = FrameTexture(ctx)
        self.chain = ShaderChain(ctx, list(patch.output.shaders), size=surface.size)
        for msg in self.chain.errors:
            self.report(msg)

        self.specs: dict[str, ParamSpec] = {}
        for spec in [*ENGINE_SPECS, *self.trajectory.param_specs(), *self.chain.param_specs(),
                     *_clock_specs(float(patch.clock.bpm))]:
            self.specs[spec.name] = spec
        tempo_sources = ("clock/tempo", "clock/midi/bpm") if patch.clock.source == "midi" else ("clock/tempo",)
        self.mapper = Mapper(patch.mappings, self.specs, tempo_sources=tempo_sources)
        for msg in self._unknown_targets():
            self.report(msg)
        self.tempo = Tempo(bpm=float(patch.clock.bpm))
        self.params = ParamState(values={n: s.default for n, s in self.specs.items() if s.kind != "trigger"},
                                 tempo=self.tempo.bpm, beats_per_bar=int(getattr(patch.clock, "beats_per_bar", 4)))

    # -- inputs -------------------------------------------------------------------------------

    def add_queue(self) -> EventQueue:
        q = EventQueue()
        self.queues.append(q)
        return q

    def open_live_inputs(self, *, osc_host: str | None = None, osc_port: int | None = None,
                         audio: bool = True) -> None:
        """Open the inputs the patch names.  A device that is missing is reported, not fatal."""
        inputs = self.patch.inputs
        osc = getattr(inputs, "osc", None)
        if osc is not None and getattr(osc, "enabled", True):
            from .inputs.osc import OscFeedback, OscInput
            host = osc_host or osc.host
            port = osc.port if osc_port is None else osc_port
            try:
                osc_in = OscInput(self.add_queue(), self.clock, host=host, port=port,
                                  specs=list(self.specs.values()))
                self.inputs.append(osc_in)
                log.info("OSC: listening on %s:%d", host, osc_in.port)
            except (OSError, UserError) as e:
                self.report(f"OSC: cannot listen on {host}:{port}: {e}; carrying on without OSC")
            targets = list(getattr(osc, "targets", []) or [])
            if targets:
                self.feedback = OscFeedback(targets)
        midi = getattr(inputs, "midi", None)
        if midi is not None and getattr(midi, "enabled", False):
            from .inputs.midi import MidiInput
            for pattern in _as_list(getattr(midi, "inputs", None) or getattr(midi, "input", None)):
                try:
                    self.inputs.append(MidiInput(self.add_queue(), self.clock, pattern))
                except Exception as e:  # a MIDI backend that cannot start is not fatal
                    self.report(f"MIDI: cannot open {pattern!r}: {e}")
        aud = getattr(inputs, "audio", None)
        if audio and aud is not None and getattr(aud, "enabled", False):
            try:
                from .inputs.audio import AudioInput
                self.inputs.append(AudioInput(self.add_queue(), clock=self.clock,
                                              device=getattr(aud, "device", None)))
            except Exception as e:
                self.report(f"audio: {e}; carrying on without sound input")

    def _drain(self, now: float) -> list[ControlEvent]:
        events: list[ControlEvent] = []
        for q in self.queues:
            events.extend(q.iter_pending())
        if self.feature_track is not None and self.frame_index < len(self.feature_track):
            events.extend(self.feature_track.events_for_frame(self.frame_index, now))
        if self.replay is not None:
            events.extend(self.replay.events_until(now))
        if len(self.queues) > 1 or self.replay is not None:
            events.sort(key=lambda e: e.time)
        if self.event_log is not None and events:
            self.event_log.write_many(events)
        from .inputs.osc import coalesce
        return coalesce(events)

    # -- the tick -----------------------------------------------------------------------------

    def step(self) -> np.ndarray | None:
        """One tick.  Returns the output pixels when something reads them back (offline, recording)."""
        t = self.clock.tick()
        self.frame_index += 1
        dt = 1.0 / self.fps if self.offline or self._last_tick_wall is None else max(t - self._last_tick_wall, 0.0)
        self._last_tick_wall = t

        events = self._drain(t)
        try:
            params = self.mapper.apply(events, self.params, t, dt)
        except Exception as e:  # a mapping bug must not end the show
            self.report(f"mapping failed: {e!r}; keeping the last state")
            params = self.params.evolve(time=t)
        params = self._musical_time(params, t)
        self.params = params

        request = self.trajectory.step(params, dt)
        request = replace(request, seq=self.frame_index, time=t, stamp=params.newest_input)
        if params.get("engine/freeze") < 0.5:
            self.worker.submit(request)
        frame = self.worker.latest()
        if frame is not None and frame.seq != self._last_shown_seq:
            self._last_shown_seq = frame.seq
            if frame.error:
                self.report(frame.error)
            else:
                self.stats.gen_ms = frame.gen_ms
                self.texture.upload(frame.pixels)
                self._shown_stamp = frame.stamp

        target = self.surface.target
        self.chain.render(self.texture.texture, params, t, target, self.surface.viewport())
        pixels = None
        if self.recorder is not None or self.offline:
            pixels = self.surface.read_pixels()
        self.surface.present()
        photon = self.clock.now()
        stamp = getattr(self, "_shown_stamp", None)
        if stamp is not None and frame is not None and not frame.error:
            self.stats.latencies.append(max(photon - stamp, 0.0))
        if self.recorder is not None and pixels is not None:
            self.recorder.push(pixels)
        if self.feedback is not None:
            try:
                self.feedback.send_state(params, {"fps": self.stats.fps})
            except OSError as e:
                self.report(f"OSC feedback: {e}")
        self.stats.frames += 1
        return pixels

    def _musical_time(self, params: ParamState, t: float) -> ParamState:
        bpm = params.get("clock/bpm", self.tempo.bpm)
        if abs(bpm - self.tempo.bpm) > 1e-6:
            self.tempo.set_bpm(bpm, t)
        if params.fired("clock/tap"):  # the mapper turns taps into clock/bpm; the downbeat lands on the tap
            self.tempo.align(t, round(self.tempo.beat(t)))
        return params.evolve(tempo=self.tempo.bpm, beat=self.tempo.beat(t), time=t)

    # -- running ------------------------------------------------------------------------------

    def run(self, seconds: float | None = None, on_frame: Callable[[int], None] | None = None) -> None:
        """Live loop: paced to `fps` (the surface's vsync, when it has one, paces it too)."""
        period = 1.0 / self.fps
        deadline = time.perf_counter()
        start = deadline
        last = None
        while not self.surface.should_close():
            self.handle_keys()
            self.step()
            now = time.perf_counter()
            if last is not None:
                self.stats.frame_times.append(now - last)
            last = now
            if on_frame:
                on_frame(self.stats.frames)
            if seconds is not None and now - start >= seconds:
                break
            deadline += period
            sleep = deadline - time.perf_counter()
            if sleep > 0:
                time.sleep(sleep)
            elif sleep < -period:  # fell behind: don't try to catch up with a burst of frames
                deadline = time.perf_counter()

    def handle_keys(self) -> None:
        for key in self.surface.poll_keys():
            if key == "escape" or key == "q":
                self.surface.request_close()
            elif key == "f":
                self.surface.toggle_fullscreen()
            elif key == "b":
                v = 1.0 - round(self.params.get("engine/blackout"))
                self.params = self.params.evolve(values={**self.params.values, "engine/blackout": v})

    def report(self, message: str) -> None:
        """Show a problem once in a while (not every frame), and keep it for the overlay."""
        now = time.monotonic()
        if now - self._error_times.get(message, -1e9) > 5.0:
            log.warning("%s", message)
            self._error_times[message] = now
            self.stats.errors.append(message)
            if self.feedback is not None:
                try:
                    self.feedback.send_error(message)
                except Exception:
                    pass

    def _unknown_targets(self) -> Iterable[str]:
        from .patch import unknown_targets
        return unknown_targets(self.patch, self.specs)

    def close(self) -> None:
        for inp in self.inputs:
            try:
                inp.close()
            except Exception as e:
                log.debug("closing %r: %s", inp, e)
        self.worker.close()
        if self.recorder is not None:
            self.recorder.close()
        if self.event_log is not None:
            self.event_log.close()


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


# -- building shows from the command line's options -------------------------------------------


def _model_spec(patch) -> str:
    model = patch.model
    kind = str(model.kind)
    if kind == "builtin":
        return f"builtin:{int(getattr(model, 'resolution', 256) or 256)}"
    return kind


def _directions_for(generator, patch):
    """Semantic directions for the model: PCA of W (cached) for real networks; None lets the
    trajectory derive a deterministic random set (the built-in generator's W has no semantics)."""
    kind = str(patch.model.kind)
    if kind == "builtin":
        return None
    try:
        from .latent.directions import directions_for
        return directions_for(generator, kind, count=8)
    except Exception as e:
        log.warning("directions: %s; using random directions", e)
        return None


def _clock_specs(bpm: float = 120.0) -> list[ParamSpec]:
    from .patch import engine_param_specs
    return list(engine_param_specs(bpm))


def _open_surface(*, headless: bool, size, fullscreen: bool = False, monitor=None):
    from .render import HeadlessSurface, WindowSurface
    if headless:
        return HeadlessSurface(size)
    return WindowSurface(size, fullscreen=fullscreen, monitor=monitor, title="latentperform")


def _load(patch_path: str):
    from .patch import load_patch
    return load_patch(patch_path)


def run_live(args) -> int:
    """`latentperform run`: perform until the window closes, Ctrl-C, or --seconds."""
    from .render.recorder import Recorder, check_writable

    patch = _load(args.patch)
    size = args.size or tuple(patch.output.size)
    fps = args.fps or float(patch.output.fps)
    if args.record:
        check_writable(args.record)
    surface = _open_surface(headless=args.headless, size=size, fullscreen=args.fullscreen or patch.output.fullscreen,
                            monitor=args.monitor if args.monitor is not None else patch.output.monitor)
    clock = WallClock()
    recorder = Recorder(args.record, size, fps) if args.record else None
    event_log = None
    if args.log_events:
        from .inputs.replay import EventLog
        check_writable(args.log_events)
        event_log = EventLog(args.log_events)
    engine = Engine(patch, surface=surface, clock=clock, fps=fps, recorder=recorder, event_log=event_log)
    try:
        engine.open_live_inputs(osc_host=args.osc_host, osc_port=args.osc_port, audio=not args.no_audio)
        engine.run(seconds=args.seconds)
    finally:
        engine.close()
        surface.close()
    s = engine.stats.summary()
    print(f"{s['frames']} frames, {s['fps']:.1f} fps, frame time median {s['frame_ms_median']:.1f} ms "
          f"p99 {s['frame_ms_p99']:.1f} ms, generator {s['gen_ms']:.1f} ms, "
          f"control-to-photon {s['latency_ms_median']:.1f} ms median")
    if recorder is not None:
        print(f"recorded {args.record} ({recorder.written} frames, {recorder.dropped} dropped)")
    return 0


def render_offline(args) -> int:
    """`latentperform render`: the same engine on a fixed-step clock, every frame rendered in order."""
    import sys

    from .render.recorder import VideoWriter, check_writable

    patch = _load(args.patch)
    size = args.size or tuple(patch.output.size)
    fps = args.fps or float(patch.output.fps)
    check_writable(args.out)
    track = None
    if args.audio:
        from .features import analyze_file
        track = analyze_file(args.audio, fps=fps)
    seconds = args.seconds or (track.duration if track is not None else 10.0)
    n_frames = max(1, int(round(seconds * fps)))
    replay = None
    if args.replay:
        from .inputs.replay import ReplayInput
        replay = ReplayInput(args.replay)
    surface = _open_surface(headless=True, size=size)
    engine = Engine(patch, surface=surface, clock=FixedStepClock(fps), fps=fps, offline=True,
                    feature_track=track, replay=replay)
    writer = VideoWriter(args.out, size, fps, audio_path=args.audio, duration=n_frames / fps)
    t0 = time.perf_counter()
    try:
        for k in range(n_frames):
            writer.write(engine.step())
            if sys.stderr.isatty() or k == n_frames - 1 or k % max(1, n_frames // 10) == 0:
                done = (k + 1) / n_frames
                el = time.perf_counter() - t0
                eta = el / done - el
                print(f"\rrendering {k + 1}/{n_frames} frames ({done:4.0%}), {(k + 1) / el:.1f} fps, "
                      f"{eta:.0f} s left ", end="" if sys.stderr.isatty() else "\n", file=sys.stderr, flush=True)
        writer.close()
    finally:
        engine.close()
        surface.close()
    print(f"\nwrote {args.out}: {n_frames} frames at {size[0]}x{size[1]}, {fps:g} fps"
          + (f", audio from {args.audio}" if args.audio else ""), file=sys.stderr)
    return 0


def list_devices() -> str:
    """What `latentperform devices` prints: everything a show could open, and why not."""
    lines = ["MIDI ports:"]
    try:
        from .inputs.midi import list_midi_ports
        ports = list_midi_ports()
        lines += [f"  in:  {n}" for n in ports.get("inputs", [])] or ["  (no MIDI inputs)"]
        lines += [f"  out: {n}" for n in ports.get("outputs", [])]
    except Exception as e:
        lines.append(f"  unavailable: {e}")
    lines.append("Audio inputs:")
    try:
        import sounddevice as sd
        found = False
        for i, d in enumerate(sd.query_devices()):
            if d.get("max_input_channels", 0) > 0:
                found = True
                lines.append(f"  [{i}] {d['name']} ({d['max_input_channels']} ch, {d['default_samplerate']:.0f} Hz)")
        if not found:
            lines.append("  (no audio inputs)")
    except Exception as e:
        lines.append(f"  unavailable: {e}")
    lines.append("Monitors:")
    try:
        from .render import list_monitors
        mons = list_monitors()
        lines += [f"  [{i}] {m}" for i, m in enumerate(mons)] or ["  (none)"]
    except Exception as e:
        lines.append(f"  unavailable: {e}")
    lines.append("GPUs:")
    try:
        import torch
        if torch.cuda.is_available():
            lines += [f"  [{i}] {torch.cuda.get_device_name(i)}" for i in range(torch.cuda.device_count())]
        else:
            lines.append("  (no CUDA GPU: the built-in generator runs on the CPU)")
    except Exception as e:
        lines.append(f"  unavailable: {e}")
    return "\n".join(lines)


def all_param_specs(patch=None) -> list[ParamSpec]:
    """Every parameter a show with this patch answers to (the default patch and every shader
    pass when none is given): the source of docs/osc.md."""
    from .latent import LatentSpace, Trajectory
    from .render import shader_param_specs
    from .config import DEFAULT_PATCH

    patch = patch or _load(str(DEFAULT_PATCH))
    traj = Trajectory(patch.trajectory, patch.keyframes, space=LatentSpace(z_dim=512, w_dim=512, num_ws=16),
                      directions=None, seed=0)
    specs = {s.name: s for s in [*ENGINE_SPECS, *traj.param_specs(), *_clock_specs(), *shader_param_specs()]}
    return sorted(specs.values(), key=lambda s: s.name)


def osc_docs_text() -> str:
    from .inputs.osc_docs import render_osc_docs
    return render_osc_docs(all_param_specs())


def write_osc_docs(out: str | None) -> int:
    from .config import PACKAGE_DIR
    path = Path(out) if out else PACKAGE_DIR.parent / "docs" / "osc.md"
    path.write_text(osc_docs_text())
    print(f"wrote {path}")
    return 0


def learn(args) -> int:
    """`latentperform learn PATCH`: move a MIDI control and the mapping is written into the patch."""
    from .inputs.learn import Learner, write_mapping
    from .inputs.midi import MidiInput

    patch = _load(args.patch)
    param = args.param
    if not param:
        names = [s.name for s in all_param_specs(patch) if s.kind != "trigger"]
        print("parameters:\n  " + "\n  ".join(names))
        param = input("parameter to map: ").strip()
    clock = WallClock()
    queue = EventQueue()
    midi = MidiInput(queue, clock, args.port)
    learner = Learner(param)
    print(f"move a control on {args.port!r} to map it to {param} ...")
    deadline = time.monotonic() + args.timeout
    try:
        while time.monotonic() < deadline:
            found = learner.feed(list(queue.iter_pending()))
            if found is not None:
                write_mapping(args.patch, found.source, found.target, **found.options)
                print(f"mapped {found.source} -> {found.target} in {args.patch}")
                return 0
            time.sleep(0.01)
    finally:
        midi.close()
    raise UserError(f"no control moved within {args.timeout:g} s (MIDI: {midi.status})")
