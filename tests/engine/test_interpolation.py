"""[output] interpolation = "latent": a generator slower than the display renders batches of
latents interpolated between its last picture and the newest request, and the engine shows one
per display tick.  A generator whose cost is per call (it sleeps once a call, as a GPU's batch
costs about as much as one picture) draws a flat grey that follows a latent moving at constant
speed, so the grey on screen says which instant a frame stands for."""

from __future__ import annotations

import time
from dataclasses import replace

import numpy as np
import pytest
import torch

from latentperform.clock import FixedStepClock, WallClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import EnginePart, open_show
from latentperform.events import LatentRequest
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface


class RampGenerator:
    """`delay` seconds a call whatever the batch; picture n is a flat grey of ws[n, 0, 0] - 1
    (ws[., 0, 0] from 0 to 2 is black to white)."""

    def __init__(self, delay: float, resolution: int = 16) -> None:
        self._inner = BuiltinGenerator(resolution=resolution)
        self.delay = delay
        self.batches: list[int] = []
        self.drawn: set[int] = set()  # the grey levels of every picture drawn (as the worker makes them)

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def synthesis(self, ws, noise_mode="const", transform=None, size=None):
        time.sleep(self.delay)
        self.batches.append(int(ws.shape[0]))
        r = self._inner.resolution
        grey = (ws[:, 0, 0].float() - 1.0).clamp(-1.0, 1.0)
        self.drawn.update(int(v) for v in (grey * 127.5 + 128.0).clamp(0, 255).to(torch.uint8))
        return grey[:, None, None, None].expand(-1, 3, r, r).clone()


class Line:
    """A trajectory moving the latent at constant speed: ws[:, 0] = speed * (time since start)."""

    def __init__(self, G, speed: float) -> None:
        self.G, self.speed, self.t0 = G, speed, None

    def step(self, params, dt):
        if self.t0 is None:
            self.t0 = params.time
        ws = np.zeros((self.G.num_ws, self.G.w_dim), np.float32)
        ws[:, 0] = (params.time - self.t0) * self.speed
        return LatentRequest(z=np.zeros(self.G.z_dim, np.float32), ws=ws)

    def current_keyframe(self):
        return 0

    def param_specs(self):
        return []


class Grey(EnginePart):
    """The grey level of every output frame (0..255)."""

    wants_pixels = True

    def __init__(self) -> None:
        self.levels: list[float] = []
        self.times: list[float] = []  # when each was presented

    def after_frame(self, engine, params, t):
        self.levels.append(float(engine.last_pixels.mean()))
        self.times.append(t)


def plain_patch():
    patch = load_patch(DEFAULT_PATCH)
    inputs = replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False))
    return replace(patch, output=replace(patch.output, shaders=()), inputs=inputs, mappings=())


def ramp_engine(G, mode, fps, seconds, **kw):
    eng = open_show(plain_patch(), surface=HeadlessSurface((32, 32)), clock=kw.pop("clock", WallClock()), fps=fps,
                 generator=G, interpolation=mode, **kw)
    eng.trajectory = Line(G, 2.0 / seconds)  # black to white over the run
    return eng, eng.add_part(Grey())


SECONDS, FPS, DELAY = 3.0, 30.0, 0.12  # a picture every 4 display frames, near enough


@pytest.fixture(scope="module")
def runs():
    """One live run per mode (the same generator cost and motion)."""
    out = {}
    for mode in ("latent", "hold"):
        G = RampGenerator(DELAY)
        eng, grey = ramp_engine(G, mode, FPS, SECONDS)
        try:
            eng.run(seconds=SECONDS)
        finally:
            eng.close()
            eng.surface.close()
        out[mode] = (eng, G, np.array(grey.levels), grey, eng.trajectory)
    return out


def _steady(levels):
    """The frames after the first second (the first pictures and batches have come)."""
    return levels[int(FPS):]


def test_latent_shows_a_new_real_picture_every_display_frame(runs):
    eng, G, levels = runs["latent"][:3]
    steps = np.diff(_steady(levels))
    per_frame = 255.0 / (SECONDS * FPS)  # how far the grey moves in one display period
    assert max(G.batches[2:]) > 1 and min(G.batches[2:]) >= 3, G.batches  # batches of ~4 pictures
    assert np.all(steps > 0), np.round(steps, 1)  # no repeated frame, and in the order of time
    assert steps.max() < 2.5 * per_frame + 1, (steps.max(), per_frame)  # no jump: a picture a tick
    assert set(levels.astype(int)) <= G.drawn  # every frame shown is a picture the generator drew
    assert eng.stats.batch >= 3 and eng.stats.batch_dropped <= 3  # (a few, if this machine is busy)


def test_hold_repeats_then_jumps_by_a_generator_period(runs):
    eng, G, levels = runs["hold"][:3]
    steps = np.diff(_steady(levels))
    per_frame = 255.0 / (SECONDS * FPS)
    assert np.mean(steps == 0) > 0.5  # most display frames repeat the last picture
    assert steps.max() > 3 * per_frame  # and then it jumps
    assert set(G.batches) == {1}


def test_both_keep_the_loop_rate_and_latent_reports_its_delay(runs):
    for mode, (eng, G, *_) in runs.items():
        # the loop never waited for a 120 ms generator: far more display frames than calls
        assert eng.stats.frames >= 3 * len(G.batches), (mode, eng.stats.frames, len(G.batches))
        assert eng.stats.gen_period > 0.1
    eng = runs["latent"][0]
    delay = eng.stats.batch_delay  # from a batch's arrival to its last picture on screen
    assert DELAY * 0.5 < delay < 3 * DELAY, delay
    assert "latent, " in " ".join(eng.overlay_lines(fresh=True))
    assert eng.stats.summary()["batch_delay_ms"] == pytest.approx(delay * 1e3)


def test_latent_is_later_than_hold_by_about_a_generator_period(runs):
    """The grey on screen says which instant the picture stands for: under latent the pictures
    are about one generator period older than under hold (and never older than that by much)."""
    def age(run):  # median seconds from the instant a picture stands for to its presentation
        _, _, levels, grey, line = run
        stands_for = line.t0 + np.asarray(levels) / (127.5 * line.speed)  # the grey says when
        return float(np.median(_steady(np.asarray(grey.times) - stands_for)))

    hold, latent = age(runs["hold"]), age(runs["latent"])
    assert 0.5 * DELAY < hold < 3 * DELAY, hold  # a generator period, and a bit
    assert 0.5 * DELAY < latent - hold < 2.5 * DELAY, (latent, hold)


def test_a_generator_that_keeps_up_is_shown_at_once_under_latent():
    """A picture ready by the next tick is shown at that tick: no batch, no queue, no delay."""
    G = RampGenerator(0.0)
    eng, grey = ramp_engine(G, "latent", 30.0, 3.0)
    ready = []  # the newest picture after each tick, finished before the next one
    deadline = time.perf_counter()
    try:
        for _ in range(16):
            eng.step()
            ready.append(float(eng.worker.wait(timeout=5).pixels.mean()))
            deadline += 1 / 30
            time.sleep(max(deadline - time.perf_counter(), 0.0))
    finally:
        eng.close()
        eng.surface.close()
    assert set(G.batches[2:]) == {1}, G.batches  # one tick apart: nothing to interpolate
    assert grey.levels[3:] == ready[2:-1]  # each shown at the very next tick
    assert len(eng.stats.batch_delays) <= 1 and eng.stats.batch_dropped == 0
    assert np.all(np.diff(grey.levels[3:]) > 0)


def test_offline_rendering_is_unchanged_and_deterministic():
    """Offline every frame is rendered alone, in order: latent gives hold's pixels, run after run."""
    def render(mode):
        G = RampGenerator(0.0)
        eng, grey = ramp_engine(G, mode, 10.0, 1.0, clock=FixedStepClock(10), offline=True)
        try:
            for _ in range(10):
                eng.step()
        finally:
            eng.close()
            eng.surface.close()
        return G.batches, grey.levels

    batches, latent = render("latent")
    assert batches == [1] * 10
    assert render("latent")[1] == latent == render("hold")[1]
    assert np.all(np.diff(latent) > 0)


def test_switching_interpolation_on_a_running_show_empties_the_queue():
    G = RampGenerator(0.05)
    eng, grey = ramp_engine(G, "latent", 60.0, 2.0)
    try:
        eng.run(seconds=0.6)
        assert G.batches[-1] > 1
        patch = eng.patch
        eng.apply_patch(replace(patch, output=replace(patch.output, interpolation="hold")))
        assert eng.interpolation == "hold" and not eng.playback
        eng.run(seconds=0.3)
    finally:
        eng.close()
        eng.surface.close()
    assert G.batches[-1] == 1
