"""Engine: one show (patch, generator, surface, inputs) and its tick; see the package docstring."""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import numpy as np

from ..events import ControlEvent, EventQueue, ParamSpec, ParamState

log = logging.getLogger("latentperform.engine")

ENGINE_SPECS = [
    ParamSpec("engine/blackout", 0.0, 0.0, 1.0, "fade the output to black (1 = black)", osc="/lp/blackout"),
    ParamSpec("engine/freeze", 0.0, 0.0, 1.0, "hold the current picture (1 = frozen)", osc="/lp/freeze"),
]


class EnginePart:
    """Something attached to a show besides the core path (controllers and their feedback, a
    tempo source, a video output...).  Every hook is optional; none may block the tick."""

    def param_specs(self) -> Iterable[ParamSpec]:
        """Extra parameters this part adds to the show (mappable, reachable over OSC)."""
        return ()

    def poll(self, engine: "Engine", t: float) -> list[ControlEvent]:
        """Events to add to this tick (called once per tick, before mapping)."""
        return []

    def after_frame(self, engine: "Engine", params: ParamState, t: float) -> None:
        """After the frame is presented: feedback, outputs."""

    def on_key(self, engine: "Engine", key: str) -> bool:
        """A key press; True when this part used it."""
        return False

    def close(self) -> None:
        pass


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
        from ..latent import LatentSpace, Trajectory
        from ..models import InferenceWorker, load_generator
        from ..render import FrameTexture, ShaderChain
        from .music import MusicalTime

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
        self.parts: list[EnginePart] = []
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
        self.music = MusicalTime(patch.clock)
        self._build_mapper()
        for msg in self._unknown_targets():
            self.report(msg)
        self.params = ParamState(values={n: s.default for n, s in self.specs.items() if s.kind != "trigger"},
                                 tempo=self.music.tempo.bpm, beats_per_bar=int(patch.clock.beats_per_bar))

    # -- inputs -------------------------------------------------------------------------------

    def add_queue(self) -> EventQueue:
        q = EventQueue()
        self.queues.append(q)
        return q

    def add_part(self, part: "EnginePart") -> "EnginePart":
        """Attach a part (controllers, musical time sources, stage outputs...).  Its parameters
        join the show's (the mapper is rebuilt, keeping its memory) and it is closed with the show."""
        new = [s for s in part.param_specs() if s.name not in self.specs]
        if new:
            for spec in new:
                self.specs[spec.name] = spec
            self._build_mapper()
            defaults = {s.name: s.default for s in new if s.kind != "trigger"}
            self.params = self.params.evolve(values={**defaults, **self.params.values})
        self.parts.append(part)
        return part

    def _build_mapper(self) -> None:
        from ..patch import Mapper
        old = getattr(self, "mapper", None)
        self.mapper = Mapper(self.patch.mappings, self.specs, tempo_sources=self.music.tempo_sources)
        if old is not None:
            self.mapper.carry_from(old)

    def open_live_inputs(self, *, osc_host: str | None = None, osc_port: int | None = None,
                         audio: bool = True) -> None:
        """Open the inputs the patch names.  A device that is missing is reported, not fatal."""
        from .controllers import open_controllers
        from .music import open_music_inputs
        open_controllers(self, osc_host=osc_host, osc_port=osc_port)
        open_music_inputs(self, audio=audio)

    def _drain(self, now: float) -> list[ControlEvent]:
        events: list[ControlEvent] = []
        for q in self.queues:
            events.extend(q.iter_pending())
        if self.feature_track is not None and self.frame_index < len(self.feature_track):
            events.extend(self.feature_track.events_for_frame(self.frame_index, now))
        if self.replay is not None:
            events.extend(self.replay.events_until(now))
        for part in self.parts:
            events.extend(part.poll(self, now))
        if len(self.queues) > 1 or self.replay is not None:
            events.sort(key=lambda e: e.time)
        if self.event_log is not None and events:
            self.event_log.write_many(events)
        from ..inputs.osc import coalesce
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
        for part in self.parts:
            try:
                part.after_frame(self, params, photon)
            except Exception as e:  # a part's bug must not end the show
                self.report(f"{type(part).__name__}: {e!r}")
        self.stats.frames += 1
        return pixels

    def _musical_time(self, params: ParamState, t: float) -> ParamState:
        return self.music.update(params, t)

    @property
    def tempo(self):
        return self.music.tempo

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
            if any(part.on_key(self, key) for part in self.parts):
                continue
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
        from ..patch import unknown_targets
        return unknown_targets(self.patch, self.specs)

    def close(self) -> None:
        for inp in [*self.parts, *self.inputs]:
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
        from ..latent.directions import directions_for
        return directions_for(generator, kind, count=8)
    except Exception as e:
        log.warning("directions: %s; using random directions", e)
        return None


def _clock_specs(bpm: float = 120.0) -> list[ParamSpec]:
    from ..patch import engine_param_specs
    return list(engine_param_specs(bpm))


