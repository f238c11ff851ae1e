"""Engine: one show (patch, generator, surface, inputs) and its tick; see the package docstring."""

from __future__ import annotations

import collections
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Callable, Iterable

import numpy as np

from ..events import ControlEvent, EventQueue, ParamSpec, ParamState
from ..patch.params import ENGINE_SPECS, clock_param_specs
from ..registry import ParamRegistry
from .music import MusicalTime
from .part import EnginePart

log = logging.getLogger("latentperform.engine")


BLACKOUT_FADE_S = 0.5   # engine/blackout moves at most this fast, full range (a fade, not a cut)
MAX_CROSSFADE_S = 1.0   # in-between frames never stretch a crossfade longer than this
LATENT_KEEP = 2         # "latent": frames of the last batch still queued when the next one comes
                        # (more are dropped, oldest first, so the delay cannot grow)
LATENT_RELAX_S = 1.0    # "latent": a generator that kept up this long gives back the frame in hand
OVERLAY_EVERY_S = 0.25  # the overlay's text is rebuilt at most this often
# Event sources the engine makes itself (musical time): counted, but not a performer's input, so
# not "the last input" and not a control-to-photon sample.
INTERNAL_SOURCES = frozenset({"music"})
STALL_S = 0.1           # a frame presented this long after the previous one is a stall (the summary counts them)
REPORTS_PER_5S = 10     # Engine.report writes at most this many lines per 5 s; the rest are counted
VSYNC_EARLY_S = 0.002   # with vsync, the loop wakes this early and the swap waits for the refresh


def _pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


@dataclass
class Stats:
    """Rolling figures for the overlay, OSC feedback and benchmarks.

    frame_times   seconds between presented frames (from one present to the next)
    latencies     control-to-photon, seconds: for each new input, from the newest control event
                  that shaped a frame to that frame's presentation (once per input, not per frame;
                  the engine's own musical-time events are not inputs).
                  Measured through the generator, the longest path: a shader parameter shows a
                  generator time sooner.  Under crossfade, "presented" is the first display frame
                  the new picture is part of.
                  Under latent, it is the first in-between of the input's batch on screen.
    gen_ms        the newest frame's inference time; gen_periods: seconds between new generator
                  frames reaching the engine (the generator's real rate, latest wins; under
                  latent, between batches)
    batch         under latent: pictures in the newest batch (1: the generator keeps up);
                  batch_delays: seconds from a batch's arrival to its last picture (the request
                  itself) on screen: the delay interpolation adds to hold's; batch_dropped:
                  queued in-betweens dropped to keep that delay bounded
    event_rates   events per second per source over the last second; last_input (source,
                  address, value, time) of the newest event
    """

    frame_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))
    gen_ms: float = 0.0
    gen_periods: collections.deque = field(default_factory=lambda: collections.deque(maxlen=16))
    gen_frames: int = 0
    frames: int = 0
    stalls: int = 0  # frames presented more than STALL_S after the previous one (the whole show)
    batch: int = 0
    batch_delays: collections.deque = field(default_factory=lambda: collections.deque(maxlen=32))
    batch_dropped: int = 0
    errors: collections.deque = field(default_factory=lambda: collections.deque(maxlen=8))
    event_rates: dict = field(default_factory=dict)
    last_input: tuple | None = None
    _counts: dict = field(default_factory=dict)
    _count_since: float | None = None

    @property
    def fps(self) -> float:
        med = _pct(self.frame_times, 50)
        return 1.0 / med if med and med == med and med > 0 else 0.0

    @property
    def stutter(self) -> float:
        """Frame-time p99 / median: 1.0 is perfectly even pacing."""
        med = _pct(self.frame_times, 50)
        return _pct(self.frame_times, 99) / med if med and med == med and med > 0 else float("nan")

    @property
    def gen_period(self) -> float:
        """Median seconds between new generator frames (nan before two have arrived)."""
        return _pct(self.gen_periods, 50)

    @property
    def batch_delay(self) -> float:
        """Median seconds "latent" adds before a request's picture is on screen (nan before one)."""
        return _pct(self.batch_delays, 50)

    def count_events(self, events: Iterable[ControlEvent], now: float) -> None:
        for ev in events:
            self._counts[ev.source] = self._counts.get(ev.source, 0) + 1
            if ev.source not in INTERNAL_SOURCES:
                self.last_input = (ev.source, ev.address, ev.value, ev.time)
        if self._count_since is None:
            self._count_since = now
        elif now - self._count_since >= 1.0:
            span = now - self._count_since
            self.event_rates = {src: n / span for src, n in self._counts.items()}
            self._counts = {src: 0 for src in self._counts}  # a source that went quiet shows 0/s
            self._count_since = now

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "stalls": self.stalls,
            "fps": self.fps,
            "frame_ms_median": _pct(self.frame_times, 50) * 1e3,
            "frame_ms_p99": _pct(self.frame_times, 99) * 1e3,
            "stutter": self.stutter,
            "gen_ms": self.gen_ms,
            "gen_period_ms": self.gen_period * 1e3,
            "latency_ms_median": _pct(self.latencies, 50) * 1e3,
            "latency_ms_p99": _pct(self.latencies, 99) * 1e3,
            "latency_samples": len(self.latencies),
            "batch": self.batch,
            "batch_delay_ms": self.batch_delay * 1e3,
            "batch_dropped": self.batch_dropped,
        }


class Engine:
    """A show: one patch, one generator, one output surface, any number of inputs.

    Build it with `Engine(patch, surface=..., clock=..., fps=...)`; drive it with `step()` (one
    tick) or `run()`.  Nothing in here raises into the loop: input, model and shader failures
    become messages in `stats.errors` and the show goes on with the last good state.

    What parts (and tests) may read after each frame:
      last_pixels     (H, W, 3) uint8 of this frame's output, top row first, without the overlay;
                      set when a part has `wants_pixels`, a recorder runs, or offline (else None)
      output_texture  the chain's final picture as a moderngl texture in `surface.ctx`, the size
                      of the surface; set when a part has `wants_texture` (else None)
      tick_events     this tick's control events, drained and coalesced (what the mapper got)
      stats           figures (Stats); `hud_visible` whether the overlay is drawn

    interpolation   "crossfade" | "latent" | "hold" (default: the patch's [output]): what fills
                    the display frames between two generator frames when the generator is slower
                    than the display (live only; offline every frame is rendered).  "latent": the
                    worker renders, in one call, the latents between the last picture and the
                    newest request, one per display frame, and they are shown one per tick: every
                    frame a real picture, about one generator period later than under hold
    overlay         the status overlay shown at start (default: the patch's [output] overlay);
                    it is drawn after the read-back, so never in recordings or `last_pixels`
                    unless `overlay_in_output` is set
    """

    def __init__(self, patch, *, surface, clock, fps: float, generator, offline: bool = False,
                 feature_track=None, replay=None, recorder=None, event_log=None,
                 interpolation: str | None = None, overlay: bool | None = None) -> None:
        from ..latent import LatentSpace
        from ..models import InferenceWorker
        from ..render import FrameTexture, ShaderChain
        from ..render.upload import FrameBlend

        self.patch = patch
        self.surface = surface
        self.clock = clock
        self.fps = float(fps)
        self.offline = offline
        self.feature_track = feature_track
        self.replay = replay
        self.recorder = recorder
        self.event_log = event_log
        self.interpolation = str(interpolation or getattr(patch.output, "interpolation", "crossfade"))
        self.stats = Stats()
        self.queues: list[EventQueue] = []
        self.inputs: list = []  # objects with close()
        self.parts: list[EnginePart] = []
        self.filters: list = []  # fn(engine, events, t) -> events, before the mapper (the door's add_filter, to come)
        self.tick_events: list[ControlEvent] = []   # this tick's drained events (after coalescing)
        self.last_request = None                    # this tick's LatentRequest
        self.feedback = None
        self.frame_index = -1
        self.last_pixels: np.ndarray | None = None
        self.output_texture = None
        self.overlay_in_output = False
        self.hud_visible = bool(getattr(patch.output, "overlay", False) if overlay is None else overlay)
        self.hud = None
        self._hud_font = 0
        self._hud_at = -1e9
        self._hud_dirty = True
        self._overlay_version = 0  # bumped whenever something new is to be shown
        self._overlay_cache: tuple | None = None
        self._notices: list[tuple[str, float, bool]] = []  # (text, until, shown even with the overlay off)
        self._out_target = None  # (texture, framebuffer) when a part wants the output as a texture
        self._last_shown_seq = -1
        # "latent": (frame, arrival time, last of its batch, ticks to show it) waiting for their tick
        self._playback: collections.deque = collections.deque()
        self._play_credit = 0.0          # display ticks owed to the frame at the queue's head
        self._play_started = False       # a frame of the queue has been shown
        self._starved = False            # a tick found the queue empty since the last arrival
        self._singles = 0                # single pictures in a row, none late
        self._play_wait = False          # a batch came to an empty queue: keep one frame in hand
        self._last_arrival: float | None = None
        self._started_at: float | None = None
        self._last_present: float | None = None
        self._measured_stamp = -float("inf")
        self._control_stamp: float | None = None  # time of the newest performer's input that moved the show
        self._last_tick_wall: float | None = None
        self._tick_period = 1.0 / self.fps
        self._blackout = 0.0
        self._stop = False
        self._error_times: dict[str, float] = {}
        self._report_window = [-1e9, 0, 0]  # [window start, lines written in it, lines held back]
        self._notice_window = [-1e9, 0]

        if generator is None:
            raise TypeError("Engine needs a generator: build a show with engine.show.open_show(patch, ...)")
        self.generator = generator
        self.space = LatentSpace(z_dim=generator.z_dim, w_dim=generator.w_dim, num_ws=generator.num_ws)
        self.trajectory = self._make_trajectory(patch)
        self.worker = InferenceWorker(generator, synchronous=offline)

        ctx = surface.ctx
        self.texture = FrameTexture(ctx)
        self.blend = FrameBlend(ctx)
        self.chain = ShaderChain(ctx, list(patch.output.shaders), size=surface.size)
        self.chain.work_scale = _work_scale(patch.output, ctx, offline)
        for msg in self.chain.errors:
            self.report(msg)

        self.music = MusicalTime(patch.clock)
        self.registry = ParamRegistry()   # every parameter of the show: the one table all read
        self._mapper_version = -1
        self._set_core_specs()
        self._build_mapper()
        for msg in self._unknown_targets():
            self.report(msg)
        self.params = ParamState(values={n: s.default for n, s in self.specs.items() if s.kind != "trigger"},
                                 tempo=self.music.tempo.bpm, beats_per_bar=int(patch.clock.beats_per_bar))
        self.music.attach(self)  # clock events, and the file's beats offline (live inputs attach again: a no-op)
        self.stage = None        # the stage part, when show.py attached one (live shows)

    def _make_trajectory(self, patch):
        from ..latent import Trajectory
        atlas = getattr(patch.trajectory, "atlas", None)
        data = None
        if atlas is not None:  # the atlas mode (latent/atlas_mode.py): checked against this model
            from ..atlas.travel import travel_data
            data = {"atlas": travel_data(atlas, self.generator, str(patch.model.kind))}
        return Trajectory(patch.trajectory, patch.keyframes, space=self.space,
                          directions=_directions_for(self.generator, patch), seed=patch.model.seed,
                          cutoff=patch.model.truncation_cutoff, data=data)

    @property
    def specs(self):
        """Every parameter of the show by name: the registry's table (read-only)."""
        return self.registry.specs

    def _set_core_specs(self) -> None:
        """The show's own parameters, one registry group per owner (parts add theirs)."""
        for owner, specs in core_param_groups(self.trajectory.param_specs(), self.chain.param_specs(),
                                              float(self.patch.clock.bpm)).items():
            self.registry.set_group(owner, specs)

    # -- inputs -------------------------------------------------------------------------------

    def add_queue(self) -> EventQueue:
        q = EventQueue()
        self.queues.append(q)
        return q

    def add_part(self, part: "EnginePart") -> "EnginePart":
        """Attach a part (controllers, musical time sources, stage outputs...).  Its parameters
        join the show's (the mapper is rebuilt, keeping its memory) and it is closed with the show."""
        specs = list(part.param_specs())
        if specs:
            before = self.specs
            self.registry.set_group(_part_owner(part), specs)
            new = [s for s in specs if s.name not in before and self.specs.get(s.name) is s]
            self._build_mapper()
            defaults = {s.name: s.default for s in new if s.kind != "trigger"}
            self.params = self.params.evolve(values={**defaults, **self.params.values})
        self.parts.append(part)
        return part

    def _build_mapper(self) -> None:
        """The mapper for the patch's mappings and the registry as it is now (keeping the old
        mapper's memory).  The tick calls it whenever the registry's version moved."""
        from ..patch import Mapper
        old = getattr(self, "mapper", None)
        self._mapper_version = self.registry.version
        self.mapper = Mapper(self.patch.mappings, self.specs, tempo_sources=self.music.tempo_sources)
        if old is not None:
            self.mapper.carry_from(old)

    def _drain(self, now: float) -> list[ControlEvent]:
        events: list[ControlEvent] = []
        for q in self.queues:
            events.extend(q.iter_pending())
        if self.feature_track is not None and self.frame_index < len(self.feature_track):
            events.extend(self.feature_track.events_for_frame(self.frame_index, now))
        if self.replay is not None:
            events.extend(self.replay.events_until(now))
        for part in self.parts:
            try:
                events.extend(part.poll(self, now))
            except Exception as e:  # a part's bug must not end the show
                self.report(f"{type(part).__name__}: {e!r}")
        if len(self.queues) > 1 or self.replay is not None:
            events.sort(key=lambda e: e.time)
        for fn in self.filters:
            try:
                events = list(fn(self, events, now))
            except Exception as e:  # a filter's bug must not end the show
                self.report(f"input filter: {e!r}")
        if self.event_log is not None and events:
            # what the engine derives itself (clock events) is made again on replay, not logged
            logged = [e for e in events if e.source not in INTERNAL_SOURCES]
            if logged:
                self.event_log.write_many(logged)
        self.stats.count_events(events, now)
        from ..inputs.osc import coalesce
        return coalesce(events)

    # -- what parts ask for -------------------------------------------------------------------

    @property
    def wants_pixels(self) -> bool:
        """True when this frame's output is read back (offline, recording, or a part asks)."""
        return self.offline or self.recorder is not None or any(p.wants_pixels for p in self.parts)

    @property
    def wants_texture(self) -> bool:
        return any(p.wants_texture for p in self.parts)

    def _offscreen_target(self):
        size = tuple(self.surface.size)
        if self._out_target is None or self._out_target[0].size != size:
            self._release_offscreen()
            from ..render.shaders import render_target
            self._out_target = render_target(self.surface.ctx, size)
        return self._out_target

    def _release_offscreen(self) -> None:
        if self._out_target is not None:
            self._out_target[1].release()
            self._out_target[0].release()
            self._out_target = None

    # -- the tick -----------------------------------------------------------------------------

    def step(self) -> np.ndarray | None:
        """One tick.  Returns the output pixels when something reads them back (offline,
        recording, a part with `wants_pixels`), else None."""
        t = self.clock.tick()
        self.frame_index += 1
        if self.offline or self._last_tick_wall is None:
            dt = 1.0 / self.fps
        else:
            dt = max(t - self._last_tick_wall, 0.0)
            self._tick_period += (min(dt, 1.0) - self._tick_period) * 0.1
        self._last_tick_wall = t
        if self._started_at is None:
            self._started_at = t

        events = self._drain(t)
        self.tick_events = events  # what parts may look at in after_frame (meters, activity)
        if self._mapper_version != self.registry.version:
            self._build_mapper()
        newest_before = self.params.newest_input
        try:
            params = self.mapper.apply(events, self.params, t, dt)
        except Exception as e:  # a mapping bug must not end the show
            self.report(f"mapping failed: {e!r}; keeping the last state")
            params = self.params.evolve(time=t)
        params = self.music.update(params, t, events)
        self.params = params
        if params.newest_input is not None and params.newest_input != newest_before:
            stamp = params.newest_input
            if any(ev.time == stamp and ev.source not in INTERNAL_SOURCES for ev in events):
                self._control_stamp = stamp  # a performer's input moved the show

        request = self.trajectory.step(params, dt)
        request = replace(request, seq=self.frame_index, time=t, stamp=self._control_stamp)
        for part in self.parts:
            try:
                request = part.shape_request(self, request, params)
            except Exception as e:  # a part's bug must not end the show
                self.report(f"{type(part).__name__}: {e!r}")
        self.last_request = request  # the point this tick asked for (the control room adds it as a keyframe)
        frozen = params.get("engine/freeze") >= 0.5
        latent = self.interpolation == "latent" and not self.offline
        if not frozen:
            self.worker.submit(request, interpolate=self._tick_period if latent else None)
        frame = self.worker.latest()
        shown = None  # the generator picture put on screen this tick, if any
        if frame is not None and frame.seq != self._last_shown_seq:
            self._last_shown_seq = frame.seq
            if frame.error:
                self.report(frame.error)
            elif latent:
                self._count_arrival(frame, t, frozen)
                self._queue_batch(frame, t)
            else:
                shown = frame
                self._frame_arrived(frame, t, frozen)
        if latent and not frozen:
            shown = self._play_next(t)

        source = self.texture.texture
        if self.interpolation == "crossfade" and not self.offline and self._last_arrival is not None:
            period = self.stats.gen_period
            period = self._tick_period if period != period else min(period, MAX_CROSSFADE_S)
            mix = (t - self._last_arrival + self._tick_period) / max(period, self._tick_period, 1e-6)
            source = self.blend.source(source, mix)

        render_params = self._blackout_fade(params, dt)
        pixels = self._render_output(source, render_params, t)
        self.surface.present()
        photon = self.clock.now()
        presented = time.perf_counter()
        if self._last_present is not None:
            self.stats.frame_times.append(presented - self._last_present)
            if presented - self._last_present > STALL_S:
                self.stats.stalls += 1
        self._last_present = presented
        if shown is not None and shown.stamp is not None and shown.stamp > self._measured_stamp:
            # the first frame shaped by a new input reaches the screen: one latency sample
            self._measured_stamp = shown.stamp
            self.stats.latencies.append(max(photon - shown.stamp, 0.0))
        if self.recorder is not None and pixels is not None:
            self._record(pixels)
        for part in self.parts:
            try:
                part.after_frame(self, params, photon)
            except Exception as e:  # a part's bug must not end the show
                self.report(f"{type(part).__name__}: {e!r}")
        self.stats.frames += 1
        return pixels

    def _frame_arrived(self, frame, t: float, frozen: bool) -> None:
        self._count_arrival(frame, t, frozen)
        if self.interpolation == "crossfade" and not self.offline:
            self.blend.arrived(self.texture.texture)
        self._upload(frame)

    def _upload(self, frame) -> None:
        """The generator's picture into the frame texture; with [output] tile, only this
        screen's tile of the canvas (service/tile.py) goes on."""
        tile = getattr(self.patch.output, "tile", None)
        if tile is None:
            self.texture.upload(frame.pixels, tensor=frame.tensor)
            return
        from ..service.tile import tile_rect
        y0, y1, x0, x1 = tile_rect(tile, frame.pixels.shape[0], frame.pixels.shape[1])
        self.texture.upload(frame.pixels[y0:y1, x0:x1])

    def _count_arrival(self, frame, t: float, frozen: bool) -> None:
        self.stats.gen_ms = frame.gen_ms
        self.stats.gen_frames += 1
        since = self._last_arrival if self._last_arrival is not None else self._started_at
        if since is not None and not frozen:  # the first frame: the time since the first request
            self.stats.gen_periods.append(min(max(t - since, 0.0), MAX_CROSSFADE_S))
        self._last_arrival = t

    # -- "latent": a batch of real pictures, one per display tick -------------------------------

    def _queue_batch(self, frame, t: float) -> None:
        """A new frame from the worker under "latent": its batch (the in-betweens, then the
        request's own picture) joins the playback queue, shown one frame per tick.

        The queue is a jitter buffer.  A batch that comes after a tick found the queue empty (a
        repeated frame: the first batch, a late one) waits one tick, so one frame stays in hand
        against the next batch coming a tick late.  Of an older batch at most LATENT_KEEP frames
        stay queued when a new one comes (the oldest are dropped), so the delay stays bounded;
        and once the generator has kept up for LATENT_RELAX_S (single pictures only, none late),
        a frame still in hand is let go: a generator that keeps up adds no delay.

        Each frame of a batch is shown for one tick, or, when the batch was capped at the
        worker's max_batch, for as many ticks as its pictures are apart in time (never more
        than the generator's period shared among them, so a batch after a freeze is not slow)."""
        frames = (*frame.inbetween, frame)
        k = len(frames)
        self.stats.batch = k
        tick = max(self._tick_period, 1e-6)
        ticks = 1.0
        if k > 1:
            spacing = (frames[-1].time - frames[0].time) / (k - 1)
            period = self.stats.gen_period
            if period == period:  # known
                spacing = min(spacing, period / k)
            ticks = spacing / tick if spacing / tick >= 1.5 else 1.0
        self._singles = self._singles + 1 if k == 1 and not self._starved else 0
        keep = LATENT_KEEP
        if self._singles * tick >= LATENT_RELAX_S:
            keep, self._singles = 0, 0
        while len(self._playback) > keep:
            self._playback.popleft()
            self.stats.batch_dropped += 1
        if self._starved and not self._playback:
            self._play_wait = True
        self._starved = False
        for i, f in enumerate(frames):
            self._playback.append((f, t, k > 1 and i == k - 1, ticks))

    def _play_next(self, t: float):
        """Put the next queued frame on screen when its tick has come; returns it, or None (the
        picture on screen stays)."""
        if self._play_wait:
            self._play_wait = False
            return None
        self._play_credit += 1.0
        if not self._playback:
            self._play_credit = min(self._play_credit, 0.5)
            self._starved = self._play_started
            return None
        frame, arrival, last, ticks = self._playback[0]
        if self._play_credit < ticks - 0.5:
            return None
        self._playback.popleft()
        self._play_credit = min(max(self._play_credit - ticks, -0.5), 0.5)
        self._play_started = True
        if last:
            self.stats.batch_delays.append(max(t - arrival, 0.0))
        self._upload(frame)
        return frame

    def _reset_playback(self) -> None:
        self._playback.clear()
        self._play_credit = 0.0
        self._play_wait = self._starved = False
        self._singles = 0

    def _blackout_fade(self, params: ParamState, dt: float) -> ParamState:
        """engine/blackout as shown: it follows the parameter at most 1 / BLACKOUT_FADE_S per second."""
        want = min(max(params.get("engine/blackout"), 0.0), 1.0)
        step = dt / BLACKOUT_FADE_S
        self._blackout += min(max(want - self._blackout, -step), step)
        if abs(self._blackout - want) < 1e-9:
            self._blackout = want
            return params
        return params.evolve(values={**params.values, "engine/blackout": self._blackout})

    def _render_output(self, source, params: ParamState, t: float) -> np.ndarray | None:
        surface = self.surface
        if self.wants_texture:
            tex, fbo = self._offscreen_target()
            self.chain.render(source, params, t, fbo, (0, 0, *tex.size))
            self.surface.ctx.copy_framebuffer(surface.target, fbo)
            self.output_texture = tex
        else:
            self.chain.render(source, params, t, surface.target, surface.viewport())
            self.output_texture = None
        pixels = surface.read_pixels() if self.wants_pixels else None
        if self._hud_wanted():
            self._draw_hud()
            if self.overlay_in_output:
                pixels = surface.read_pixels()
        self.last_pixels = pixels
        return pixels

    def _record(self, pixels: np.ndarray) -> None:
        size = getattr(self.recorder, "size", None)
        if size is not None and (pixels.shape[1], pixels.shape[0]) != tuple(size):
            self.report(f"recording: the output is now {pixels.shape[1]}x{pixels.shape[0]}, the video "
                        f"{size[0]}x{size[1]}: those frames are left out (r twice starts a new file)")
            return
        self.recorder.push(pixels)

    @property
    def tempo(self):
        return self.music.tempo

    # -- the status overlay -------------------------------------------------------------------

    def _mark_dirty(self) -> None:
        self._hud_dirty = True
        self._overlay_version += 1

    def toggle_overlay(self, visible: bool | None = None) -> None:
        self.hud_visible = (not self.hud_visible) if visible is None else bool(visible)
        self._mark_dirty()

    def notice(self, text: str, seconds: float = 3.0, urgent: bool = False) -> None:
        """A message on the overlay for a few seconds (urgent: shown even when the overlay is
        off, e.g. the quit confirmation); also logged, at most REPORTS_PER_5S lines per 5 s (a
        flood of /lp/learn messages must not flood the log).  Cut to 300 characters; at most 8
        notices at once."""
        if len(text) > 300:
            text = text[:300] + "..."
        now = time.monotonic()
        if now - self._notice_window[0] >= 5.0:
            self._notice_window = [now, 0]
        if self._notice_window[1] < REPORTS_PER_5S:
            self._notice_window[1] += 1
            log.info("%s", text)
        self._notices = [n for n in self._notices if n[0] != text][-7:]
        self._notices.append((text, now + seconds, urgent))
        self._mark_dirty()

    def notices(self) -> list[str]:
        """The notices showing now (the control room lists them)."""
        now = time.monotonic()
        return [text for text, until, _ in self._notices if until >= now]

    def clear_notice(self, text: str) -> None:
        self._notices = [n for n in self._notices if n[0] != text]
        self._mark_dirty()

    def _hud_wanted(self) -> bool:
        if self.offline and not self.overlay_in_output:
            return False
        now = time.monotonic()
        if self._notices and any(until < now for _, until, _ in self._notices):
            self._notices = [n for n in self._notices if n[1] >= now]
            self._mark_dirty()
        return self.hud_visible or any(urgent for _, _, urgent in self._notices)

    def _draw_hud(self) -> None:
        from ..render import Hud
        font = _overlay_font_size(self.surface.size)
        if self.hud is not None and self._hud_font != font:  # fullscreen on a bigger screen
            self.hud.release()
            self.hud = None
        if self.hud is None:
            self.hud = Hud(self.surface.ctx, font_size=font, min_interval=0.0)
            self._hud_font = font
            self._hud_dirty = True
        now = time.monotonic()
        if self._hud_dirty or now - self._hud_at >= OVERLAY_EVERY_S:
            self._hud_at, self._hud_dirty = now, False
            if self.hud_visible:
                lines = self.overlay_lines(fresh=True)
            else:
                lines = [text for text, _, urgent in self._notices if urgent]
            self.hud.update(lines, force=True)
        self.hud.draw(None, self.surface.target, self.surface.viewport())

    def overlay_lines(self, fresh: bool = False) -> list[str]:
        """The status overlay's text.  It is rebuilt at most every OVERLAY_EVERY_S seconds (or
        when something new is to be shown); in between, the last lines are returned."""
        now = time.monotonic()
        cached = self._overlay_cache
        if (not fresh and cached is not None and cached[1] == self._overlay_version
                and now - cached[0] < OVERLAY_EVERY_S):
            return cached[2]
        lines = self._build_overlay_lines()
        self._overlay_cache = (now, self._overlay_version, lines)
        return lines

    def _build_overlay_lines(self) -> list[str]:
        s = self.stats
        ft50, ft99 = _pct(s.frame_times, 50) * 1e3, _pct(s.frame_times, 99) * 1e3
        lat50, lat99 = _pct(s.latencies, 50) * 1e3, _pct(s.latencies, 99) * 1e3
        gp = s.gen_period
        name = getattr(self.patch, "name", "") or "patch"
        lines = [f"latentperform  {name}",
                 f"fps {s.fps:5.1f}  frame {_ms(ft50)} median  {_ms(ft99)} p99  stutter {_num(s.stutter, 2)}",
                 f"generator {s.gen_ms:5.1f} ms"
                 + (f", a new frame every {gp * 1e3:.0f} ms" if gp == gp else "")
                 + f"  ({self._interpolation_label()})",
                 f"latency {_ms(lat50)} median  {_ms(lat99)} p99  (control to photon)"]
        rates = "  ".join(f"{src} {r:.0f}/s" for src, r in sorted(s.event_rates.items())
                          if src not in INTERNAL_SOURCES) or "none yet"
        lines.append(f"inputs  {rates}")
        if s.last_input is not None:
            src, addr, value, when = s.last_input
            v = ", ".join(f"{x:.3g}" for x in value) if isinstance(value, tuple) else f"{float(value):.3g}"
            ago = self.clock.now() - when
            lines.append(f"last    {addr} {v}  ({ago:.1f} s ago)")
        p = self.params
        bpb = max(int(p.beats_per_bar), 1)
        beat = int(p.beat // 1)
        dots = "".join("#" if i == beat % bpb else "." for i in range(bpb))
        tempo_at = len(lines)
        lines.append(f"tempo {p.tempo:6.1f} bpm  bar {beat // bpb + 1} beat {beat % bpb + 1}  {dots}"
                     f"  keyframe {self.trajectory.current_keyframe()}")
        state = []
        if p.get("engine/freeze") >= 0.5:
            state.append("FROZEN")
        if p.get("engine/blackout") > 0.0 or self._blackout > 0.0:
            state.append(f"BLACKOUT {self._blackout:.0%}")
        if state:
            lines.append("  ".join(state))
        if getattr(self.trajectory, "atlas", None) is not None:  # the atlas minimap: place and trail
            lines.extend(self.trajectory.atlas.status_lines())
        for part in self.parts:
            try:
                lines.extend(part.status_lines(self))
            except Exception as e:
                lines.append(f"{type(part).__name__}: {e!r}")
        if any(line.startswith("tempo") for line in lines[tempo_at + 1:]):  # a tempo source says more
            lines[tempo_at] = f"keyframe {self.trajectory.current_keyframe()}  {dots}"
        for err in list(s.errors)[-3:]:
            lines.append("! " + (err if len(err) <= 110 else err[:107] + "..."))
        lines.extend(text for text, _, _ in self._notices)
        return lines

    def _interpolation_label(self) -> str:
        s = self.stats
        if self.interpolation != "latent" or s.batch <= 1:
            return self.interpolation
        delay = s.batch_delay
        return f"latent, {s.batch} a batch" + (f", +{delay * 1e3:.0f} ms" if delay == delay else "")

    # -- a running show's patch ---------------------------------------------------------------

    def apply_patch(self, new) -> list[str]:
        """Apply an edited patch to the running show, as far as that can be done without a
        restart: mappings (the mapper keeps its memory), trajectory and keyframes (the loop
        keeps its place), shader passes, clock, fps and interpolation.  A changed model, inputs
        or window are reported as needing a restart and keep their running values.
        Returns the messages (also logged)."""
        from ..render import ShaderChain

        old = self.patch
        changed: list[str] = []
        restart: list[str] = []
        if new.model != old.model:
            restart.append("[model]")
            new = replace(new, model=old.model)
        if new.inputs != old.inputs:
            restart.append("[inputs]")
            new = replace(new, inputs=old.inputs)
        if new.bends != old.bends:  # layers and ops are hooked into the network at start
            restart.append("[[bend]]")
            new = replace(new, bends=old.bends)
        o_old, o_new = old.output, new.output
        for key in ("size", "fullscreen", "monitor", "preview", "preview_monitor", "vsync", "outputs"):
            if getattr(o_new, key, None) != getattr(o_old, key, None):
                restart.append(f"output.{key}")
        live_out = replace(o_old, shaders=o_new.shaders, fps=o_new.fps, interpolation=o_new.interpolation)
        new = replace(new, output=live_out)
        old_specs = dict(self.specs)
        self.patch = new

        if new.trajectory != old.trajectory or new.keyframes != old.keyframes:
            try:
                traj = self._make_trajectory(new)
                traj.carry_from(self.trajectory)
                self.trajectory = traj
                changed.append("trajectory")
            except Exception as e:
                self.patch = new = replace(new, trajectory=old.trajectory, keyframes=old.keyframes)
                self.report(f"patch: trajectory not changed: {e}")
        if tuple(o_new.shaders) != tuple(o_old.shaders):
            chain = ShaderChain(self.surface.ctx, list(o_new.shaders), size=self.surface.size)
            chain.work_scale = self.chain.work_scale
            for msg in chain.errors:
                self.report(msg)
            self.chain.release()
            self.chain = chain
            changed.append("shaders")
        if o_new.fps != o_old.fps:
            self.fps = float(o_new.fps)
            changed.append("fps")
        if o_new.interpolation != o_old.interpolation:
            self.interpolation = str(o_new.interpolation)
            self.blend.reset()
            self._reset_playback()
            changed.append("interpolation")
        if new.clock != old.clock:
            if (new.clock.source, new.clock.beats_per_bar) != (old.clock.source, old.clock.beats_per_bar):
                self.music = MusicalTime(new.clock)
                self.music.attach(self)  # the musical-time part follows the new source
            changed.append("clock")
        if new.mappings != old.mappings:
            changed.append("mappings")

        self.refresh_specs(old_specs)
        self.params = self.params.evolve(beats_per_bar=int(new.clock.beats_per_bar))

        where = getattr(new, "source_path", None) or "the patch"
        messages = [f"patch reloaded from {where}: " + (", ".join(changed) if changed else "no change to apply")]
        if restart:
            messages.append("patch: " + ", ".join(restart) + " changed: takes effect after a restart")
        for m in messages:
            self.notice(m, seconds=5.0)
        return messages

    def refresh_specs(self, old_specs: dict[str, ParamSpec] | None = None) -> bool:
        """Recollect the show's parameters (trajectory, shader passes, clock, parts) after a
        reload; the mapper is rebuilt keeping its memory.  A value the performer never moved
        takes its new default; the others keep theirs (clamped to the new range).  Returns True
        when the set of parameters or a default changed."""
        old_specs = dict(self.specs) if old_specs is None else old_specs
        self._set_core_specs()
        for part in self.parts:
            self.registry.set_group(_part_owner(part), part.param_specs())
        specs = self.specs
        changed = dict(specs) != old_specs
        self._build_mapper()
        values = {}
        for name, spec in specs.items():
            if spec.kind == "trigger":
                continue
            before = old_specs.get(name)
            current = self.params.values.get(name)
            untouched = before is None or current is None or abs(current - before.default) < 1e-12
            values[name] = spec.default if untouched else min(max(current, spec.min), spec.max)
        self.params = self.params.evolve(values=values)
        for msg in self._unknown_targets():
            self.report(msg)
        return changed

    # -- running ------------------------------------------------------------------------------

    def request_stop(self) -> None:
        """End `run()` after this tick (and close the window)."""
        self._stop = True
        self.surface.request_close()

    def run(self, seconds: float | None = None, on_frame: Callable[[int], None] | None = None) -> None:
        """Live loop, paced to `fps` by its own clock; on a surface with vsync it wakes
        VSYNC_EARLY_S early and lets the swap wait for the refresh, so the two clocks drifting
        apart never make it miss one (the display's rate wins when it is lower than `fps`).
        The generator never holds it up: latest wins, and in-between frames are filled per
        `interpolation`."""
        early = VSYNC_EARLY_S if getattr(self.surface, "swap_interval", 0) else 0.0
        deadline = time.perf_counter()
        start = deadline
        while not self._stop and not self.surface.should_close():
            self.handle_keys()
            self.step()
            now = time.perf_counter()
            if on_frame:
                on_frame(self.stats.frames)
            if seconds is not None and now - start >= seconds:
                break
            period = 1.0 / self.fps  # a reloaded patch may have changed the rate
            deadline += period
            sleep = deadline - early - time.perf_counter()
            if sleep > 0:
                time.sleep(sleep)
            elif sleep < -period:  # fell behind: don't try to catch up with a burst of frames
                deadline = time.perf_counter()

    def handle_keys(self) -> None:
        """Keys pressed on the surface go to the parts in order (the stage part has f, h, r, s,
        b, space, left, right, q and escape); a key no part takes is ignored."""
        for key in self.surface.poll_keys():
            self.handle_key(key)

    def handle_key(self, key: str) -> bool:
        """One key (from the surface, or from another window such as a preview): offered to the
        parts in order; True when one took it."""
        for part in self.parts:
            try:
                if part.on_key(self, key):
                    return True
            except Exception as e:
                self.report(f"{type(part).__name__}: key {key!r}: {e!r}")
        return False

    def report(self, message: str) -> None:
        """Show a problem once in a while (not every frame), and keep it for the overlay.  The same
        message at most every 5 s; all messages together at most REPORTS_PER_5S lines per 5 s
        (a flood of different ones, say from a hostile OSC sender, is counted and summed up);
        a message is cut to 300 characters."""
        if len(message) > 300:
            message = message[:300] + "..."
        now = time.monotonic()
        if now - self._report_window[0] >= 5.0:
            if self._report_window[2]:
                log.warning("... and %d more problems in the last 5 s", self._report_window[2])
            self._report_window = [now, 0, 0]
            if len(self._error_times) > 256:  # never grows without bound under a flood
                self._error_times = {m: t for m, t in self._error_times.items() if now - t <= 5.0}
        if now - self._error_times.get(message, -1e9) > 5.0:
            self._error_times[message] = now
            if self._report_window[1] >= REPORTS_PER_5S:
                self._report_window[2] += 1
                return
            self._report_window[1] += 1
            log.warning("%s", message)
            self.stats.errors.append(message)
            self._mark_dirty()
            if self.feedback is not None:
                try:
                    self.feedback.send_error(message)
                except Exception:
                    pass

    def _unknown_targets(self) -> Iterable[str]:
        from ..patch import unknown_targets
        from ..patch.params import show_param_specs
        specs = self.specs
        if not self.offline:   # a live show's stage part registers the show commands a moment later
            specs = {**{s.name: s for s in show_param_specs()}, **specs}
        return unknown_targets(self.patch, specs)

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
        if self.hud is not None:
            self.hud.release()
            self.hud = None
        self._release_offscreen()
        self.blend.release()


def _overlay_font_size(size) -> int:
    """Text that stays readable from a step back: about 1/45 of the output's height."""
    return max(12, min(32, int(size[1]) // 45))


def _ms(v: float) -> str:
    return f"{v:5.1f} ms" if v == v else "   -- ms"


def _num(v: float, digits: int) -> str:
    return f"{v:.{digits}f}" if v == v else "--"


SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software")


def _work_scale(output, ctx, offline: bool) -> float:
    """[output] work_scale: "auto" runs the shader passes at half size (a quarter of the
    fragments) on a software rasteriser in a live show, where 720p would not keep its frame rate,
    and at full size on a GPU and offline (where quality, not time, counts)."""
    value = getattr(output, "work_scale", "auto")
    if value != "auto":
        return float(value)
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return 0.5 if not offline and any(s in renderer for s in SOFTWARE_GL) else 1.0


def _directions_for(generator, patch):
    """Semantic directions: the patch's own (`[trajectory] directions_file`), else PCA of W
    (cached) for real networks; None lets the trajectory derive a deterministic random set (the
    built-in generator's W has no semantics).  A bad directions file is the user's error."""
    path = getattr(patch.trajectory, "directions_file", None)
    if path is not None:
        from ..latent.directions import load_directions
        return load_directions(path, generator.w_dim)
    kind = str(patch.model.kind)
    if kind == "builtin":
        return None
    try:
        from ..latent.directions import directions_for
        return directions_for(generator, kind, count=8)
    except Exception as e:
        log.warning("directions: %s; using random directions", e)
        return None


def core_param_groups(trajectory_specs, shader_specs, bpm: float = 120.0) -> dict[str, list[ParamSpec]]:
    """The registry groups every show has, in order: the engine's own parameters, the
    trajectory's, the shader passes', the clock's.  `osc-docs` fills its registry with these too."""
    return {"engine": list(ENGINE_SPECS), "trajectory": list(trajectory_specs),
            "shaders": list(shader_specs), "clock": list(clock_param_specs(bpm))}


def _part_owner(part: EnginePart) -> str:
    return f"part:{type(part).__name__}:{id(part):x}"
