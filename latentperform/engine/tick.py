"""One tick of a show: the path every frame takes.

    t, dt    = the clock's tick (offline: a fixed step)
    events   = engine.door.drain(...)                    every source, time-sorted (door.py)
    params   = mapper.apply(events, params); music.update  (patch/, music.py)
    request  = trajectory.step(params, dt)               (latent/)
    worker.submit(request); frame = worker.latest()      (models/: latest wins; offline in order)
    picture  = the frame, a crossfade, or the next "latent" in-between   (playback.py)
    chain.render(picture, params with the blackout fade) -> surface; overlay; present
    stats (frame time, control-to-photon latency); recorder; parts' after_frame

`Tick` keeps what one tick needs from the last (timing, the newest input stamp, the shown
blackout); everything else lives on the engine.
"""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np

from ..events import ParamState
from .glcontext import classify
from .stats import INTERNAL_SOURCES, STALL_S

BLACKOUT_FADE_S = 0.5   # engine/blackout moves at most this fast, full range (a fade, not a cut)
MAX_CROSSFADE_S = 1.0   # in-between frames never stretch a crossfade longer than this


class Tick:
    """The tick of one engine: `Tick(fps).step(engine)` renders one frame."""

    def __init__(self, fps: float) -> None:
        self.frame_index = -1
        self.period = 1.0 / float(fps)     # smoothed seconds between ticks (live)
        self.blackout = 0.0                # engine/blackout as shown (it fades)
        self._last_wall: float | None = None
        self._started_at: float | None = None
        self._last_arrival: float | None = None
        self._last_present: float | None = None
        self._last_shown_seq = -1
        self._measured_stamp = -float("inf")
        self._control_stamp: float | None = None  # time of the newest performer's input that moved the show
        # the model's health (installation mode's fallback reads it): failed pictures in a row,
        # the last failure, and when the generator last gave a good picture (or was idled on purpose)
        self.model_failures = 0
        self.model_error: str | None = None
        self.model_ok_at: float | None = None
        self.model_pictures = 0

    def step(self, engine) -> np.ndarray | None:
        t, dt = self._advance(engine)
        params = self._map(engine, t, dt)
        shown = self._generate(engine, params, t, dt)
        source = self._picture(engine, t)
        render_params = self._blackout_fade(params, dt)
        try:
            pixels = engine.render_output(source, render_params, t)
            engine.surface.present()
        except Exception as e:  # a lost GL context is made anew (glcontext.py); no frame this tick
            # a render to a file must not skip a frame (it fails), and a bug is not the GL's
            lost = None if engine.offline else classify(e, engine.surface.ctx)
            if lost is None:
                raise
            engine.gl.failed(engine, e, lost)
            return None
        if not engine.gl.ok(engine):  # a context known to be lost: nothing reached the screen
            return None
        photon = engine.clock.now()
        self._measure(engine, shown, photon)
        if engine.recorder is not None and pixels is not None:
            engine.record(pixels)
        for part in engine.parts:
            try:
                part.after_frame(engine, params, photon)
            except Exception as e:  # a part's bug must not end the show
                engine.report(f"{type(part).__name__}: {e!r}")
        engine.stats.frames += 1
        return pixels

    def advance(self, engine) -> None:
        """One tick without a picture: everything a frame leaves for the frames after it (the
        clock, the events through the door, the parameters, musical time, the trajectory and the
        request it makes, the blackout fade), none of the generating, drawing or presenting.
        A follower in step far behind its leader runs these for frames long past
        (engine/instep.py), then renders the last ones so the shaders' history is there too."""
        t, dt = self._advance(engine)
        params = self._map(engine, t, dt)
        self._request(engine, params, t, dt)
        self._blackout_fade(params, dt)
        engine.stats.advanced += 1

    # -- the steps -------------------------------------------------------------------------------

    def _advance(self, engine) -> tuple[float, float]:
        t = engine.clock.tick()
        self.frame_index += 1
        if engine.offline or self._last_wall is None:
            dt = 1.0 / engine.fps
        else:
            dt = max(t - self._last_wall, 0.0)
            self.period += (min(dt, 1.0) - self.period) * 0.1
        self._last_wall = t
        if self._started_at is None:
            self._started_at = t
        return t, dt

    def _map(self, engine, t: float, dt: float) -> ParamState:
        events = engine.door.drain(engine, t)
        engine.tick_events = events  # what parts may look at in after_frame (meters, activity)
        if engine.mapper_version != engine.registry.version:
            engine.rebuild_mapper()
        newest_before = engine.params.newest_input
        try:
            params = engine.mapper.apply(events, engine.params, t, dt)
        except Exception as e:  # a mapping bug must not end the show
            engine.report(f"mapping failed: {e!r}; keeping the last state")
            params = engine.params.evolve(time=t)
        params = engine.music.update(params, t, events)
        engine.params = params
        if params.newest_input is not None and params.newest_input != newest_before:
            stamp = params.newest_input
            if any(ev.time == stamp and ev.source not in INTERNAL_SOURCES for ev in events):
                self._control_stamp = stamp  # a performer's input moved the show
        return params

    def _generate(self, engine, params: ParamState, t: float, dt: float):
        """Ask for this tick's picture, take the newest one; returns the generator picture put
        on screen this tick (for the latency figure), or None."""
        request = self._request(engine, params, t, dt)
        frozen = params.get("engine/freeze") >= 0.5
        latent = engine.interpolation == "latent" and not engine.offline
        if not frozen:
            engine.worker.submit(request, interpolate=self.period if latent else None)
        if frozen or self.model_ok_at is None:
            self.model_ok_at = t  # idled on purpose (or just asked first): not a failing model
        frame = engine.worker.latest()
        shown = None
        if frame is not None and frame.seq != self._last_shown_seq:
            self._last_shown_seq = frame.seq
            if frame.error:
                self.model_failures += 1
                self.model_error = frame.error
            else:
                self.model_failures, self.model_ok_at = 0, t
                self.model_pictures += 1
            if frame.error:
                engine.report(frame.error)
            elif latent:
                self._count_arrival(engine, frame, t, frozen)
                engine.playback.queue_batch(frame, t, self.period)
            else:
                shown = frame
                self._count_arrival(engine, frame, t, frozen)
                if engine.interpolation == "crossfade" and not engine.offline:
                    engine.blend.arrived(engine.texture.texture)
                upload_frame(engine, frame)
        if latent and not frozen:
            shown = engine.playback.next_frame(t)
            if shown is not None:
                upload_frame(engine, shown)
        return shown

    def _request(self, engine, params: ParamState, t: float, dt: float):
        """The trajectory's step: the point this tick asks the generator for."""
        request = engine.trajectory.step(params, dt)
        request = replace(request, seq=self.frame_index, time=t, stamp=self._control_stamp)
        for part in engine.parts:
            try:
                request = part.shape_request(engine, request, params)
            except Exception as e:  # a part's bug must not end the show
                engine.report(f"{type(part).__name__}: {e!r}")
        engine.last_request = request  # the point this tick asked for (the control room adds it as a keyframe)
        return request

    def _count_arrival(self, engine, frame, t: float, frozen: bool) -> None:
        stats = engine.stats
        stats.gen_ms = frame.gen_ms
        stats.gen_frames += 1
        since = self._last_arrival if self._last_arrival is not None else self._started_at
        if since is not None and not frozen:  # the first frame: the time since the first request
            stats.gen_periods.append(min(max(t - since, 0.0), MAX_CROSSFADE_S))
        self._last_arrival = t

    def _picture(self, engine, t: float):
        """The texture the chain draws from: the newest frame, or under crossfade the blend of
        the last two by how far the next generator frame is."""
        source = engine.texture.texture
        if engine.interpolation == "crossfade" and not engine.offline and self._last_arrival is not None:
            period = engine.stats.gen_period
            period = self.period if period != period else min(period, MAX_CROSSFADE_S)
            mix = (t - self._last_arrival + self.period) / max(period, self.period, 1e-6)
            source = engine.blend.source(source, mix)
        return source

    def _blackout_fade(self, params: ParamState, dt: float) -> ParamState:
        """engine/blackout as shown: it follows the parameter at most 1 / BLACKOUT_FADE_S per second."""
        want = min(max(params.get("engine/blackout"), 0.0), 1.0)
        step = dt / BLACKOUT_FADE_S
        self.blackout += min(max(want - self.blackout, -step), step)
        if abs(self.blackout - want) < 1e-9:
            self.blackout = want
            return params
        return params.evolve(values={**params.values, "engine/blackout": self.blackout})

    def _measure(self, engine, shown, photon: float) -> None:
        stats = engine.stats
        presented = time.perf_counter()
        if self._last_present is not None:
            stats.frame_times.append(presented - self._last_present)
            if presented - self._last_present > STALL_S:
                stats.stalls += 1
        self._last_present = presented
        if shown is not None and shown.stamp is not None and shown.stamp > self._measured_stamp:
            # the first frame shaped by a new input reaches the screen: one latency sample
            self._measured_stamp = shown.stamp
            stats.latencies.append(max(photon - shown.stamp, 0.0))


def upload_frame(engine, frame) -> None:
    """The generator's picture into the frame texture; with [output] tile, only this screen's
    tile of the canvas (service/tile.py) goes on."""
    tile = getattr(engine.patch.output, "tile", None)
    if tile is None:
        engine.texture.upload(frame.pixels, tensor=frame.tensor)
        return
    from ..service.tile import tile_rect
    y0, y1, x0, x1 = tile_rect(tile, frame.pixels.shape[0], frame.pixels.shape[1])
    engine.texture.upload(frame.pixels[y0:y1, x0:x1])
