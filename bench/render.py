"""GL frame cost, headless: upload + shader chain + present, and the read-back a recording adds;
with --engine, the whole live loop's pacing.

    python bench/render.py [--sizes 256 512 1024] [--frames 200] [--passes feedback grade]
    python bench/render.py --engine [--sizes 256 512] [--seconds 5] [--fps 30] [--slow-ms 150]
    python bench/render.py --interpolation [--sizes 256] [--seconds 5] [--fps 60] [--slow-ms 100]

For each size N, an N x N uint8 frame (new contents every frame, as from a generator) is uploaded,
run through the chain into an N x N offscreen target, and finished (ctx.finish() stands in for
the swap).  Warm-up of 20 frames first; prints the median and p99 per frame, one line per size.

--engine runs a headless live Engine (wall clock, the default patch, no inputs) for
`--seconds` per line, through `--passes`: the built-in generator at N x N, then a generator that takes `--slow-ms` a
frame (alternately black and white) under crossfade and hold.  It prints the loop's frame time
median/p99, stutter (p99 / median), the generator's period, and the largest change of the mean
picture between two consecutive display frames ("step": how hard the hardest cut was, 0..255).

--interpolation compares the in-between modes (hold, crossfade, latent) for a generator slower
than the display whose cost is per call, whatever the batch (it sleeps `--slow-ms` once a call,
as a GPU's small batch costs about one picture), at `--fps`, with a latent moving at constant
speed (the picture's top half is a grey ramp that says which instant it stands for, its bottom
half a bar moving across).  Per mode: distinct frames shown per second and the share of them
that are blends of two pictures (a crossfade's double bar) rather than real pictures, the
largest step between consecutive display frames in display periods of motion (1.0: smooth), the
age of the picture on screen (from the instant it stands for to its presentation: median, max,
and the median's extra over hold), the batch sizes and the engine's own figure for the delay
latent adds (Stats.batch_delay), and the loop's rate and stutter.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from latentperform.events import ParamState
from latentperform.render import FrameTexture, HeadlessSurface, ShaderChain


def bench(size: int, frames: int, passes: list[str], read_back: bool) -> tuple[float, float, str]:
    surface = HeadlessSurface((size, size))
    chain = ShaderChain(surface.ctx, passes, size=surface.size)
    if chain.errors:
        raise SystemExit("\n".join(chain.errors))
    tex = FrameTexture(surface.ctx)
    rng = np.random.default_rng(0)
    pool = [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(4)]
    state = ParamState()
    times = []
    for k in range(frames + 20):
        t0 = time.perf_counter()
        tex.upload(pool[k % len(pool)])
        chain.render(tex.texture, state, k / 60, surface.target, surface.viewport())
        if read_back:
            surface.read_pixels()
        surface.present()
        if k >= 20:
            times.append(time.perf_counter() - t0)
    renderer = surface.ctx.info["GL_RENDERER"]
    surface.close()
    ms = np.asarray(times) * 1e3
    return float(np.median(ms)), float(np.percentile(ms, 99)), renderer


class _SlowFlip:
    """The built-in generator's sizes, but `delay` seconds a frame, alternately black and white."""

    def __init__(self, size: int, delay: float) -> None:
        from latentperform.models import BuiltinGenerator
        self._inner = BuiltinGenerator(resolution=size)
        self.delay, self.calls, self.size = delay, 0, size

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def synthesis(self, ws, *args, **kwargs):
        import torch
        time.sleep(self.delay)
        self.calls += 1
        return torch.full((1, 3, self.size, self.size), 1.0 if self.calls % 2 else -1.0)


def bench_engine(size: int, seconds: float, fps: float, generator, interpolation: str,
                 passes: list[str]) -> dict:
    from dataclasses import replace

    from latentperform.clock import WallClock
    from latentperform.config import DEFAULT_PATCH
    from latentperform.engine import EnginePart, open_show
    from latentperform.patch import load_patch

    class Means(EnginePart):
        wants_pixels = True

        def __init__(self) -> None:
            self.means: list[float] = []

        def after_frame(self, engine, params, t) -> None:
            self.means.append(float(engine.last_pixels[::4, ::4].mean()))

    patch = load_patch(DEFAULT_PATCH)
    patch = replace(patch, mappings=(), output=replace(patch.output, shaders=tuple(passes)), inputs=replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False)))
    surface = HeadlessSurface((size, size))
    engine = open_show(patch, surface=surface, clock=WallClock(), fps=fps, generator=generator,
                    interpolation=interpolation)
    means = engine.add_part(Means())
    try:
        engine.run(seconds=seconds)
    finally:
        engine.close()
        surface.close()
    out = engine.stats.summary()
    steps = np.abs(np.diff(np.asarray(means.means[len(means.means) // 5:])))
    out["step"] = float(steps.max()) if len(steps) else float("nan")
    return out


def main_engine(args) -> None:
    from latentperform.models import BuiltinGenerator

    for size in args.sizes:
        cases = [("built-in generator", BuiltinGenerator(resolution=size), "crossfade")]
        cases += [(f"{args.slow_ms:g} ms generator", _SlowFlip(size, args.slow_ms / 1e3), mode)
                  for mode in ("crossfade", "hold")]  # latent: see --interpolation
        for label, gen, mode in cases:
            r = bench_engine(size, args.seconds, args.fps, gen, mode, args.passes)
            print(f"{size}x{size} {label}, {mode}: {r['fps']:.1f} fps (target {args.fps:g}), frame time "
                  f"{r['frame_ms_median']:.1f} ms median, p99 {r['frame_ms_p99']:.1f} ms, stutter "
                  f"{r['stutter']:.2f}; generator {r['gen_ms']:.1f} ms, a frame every "
                  f"{r['gen_period_ms']:.0f} ms; hardest step {r['step']:.0f}/255")


class _SlowRamp:
    """The built-in generator's sizes; `delay` seconds a call whatever the batch.  For a latent
    v = ws[n, 0, 0] - 1 (-1..1) picture n is, in its top half, a gentle left-to-right ramp
    around the grey v (its mean says v finely: a clock), and in its bottom half a white bar on
    black whose place across the picture is v (a crossfade of two pictures shows two half-grey
    bars, a real picture one white bar)."""

    BAR = 0.03  # half the bar's width, in picture widths

    def __init__(self, size: int, delay: float) -> None:
        from latentperform.models import BuiltinGenerator
        self._inner = BuiltinGenerator(resolution=size)
        self.delay, self.size, self.batches = delay, size, []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def pictures(self, v):
        import torch
        xs = (torch.arange(self.size, dtype=torch.float32) + 0.5) / self.size
        top = (v[:, None] + 0.5 * (xs - 0.5)).clamp(-1.0, 1.0)  # (n, W)
        bar = torch.where((xs - (v[:, None] + 1.0) / 2.0).abs() < self.BAR, 1.0, -1.0)
        half = self.size // 2
        rows = torch.cat([top[:, None, :].expand(-1, half, -1), bar[:, None, :].expand(-1, self.size - half, -1)], 1)
        return rows[:, None].expand(-1, 3, -1, -1).clone()  # (n, 3, H, W)

    def synthesis(self, ws, noise_mode="const", transform=None, size=None):
        time.sleep(self.delay)
        self.batches.append(int(ws.shape[0]))
        return self.pictures((ws[:, 0, 0].float() - 1.0).clamp(-1.0, 1.0))

    def clock(self):
        """(top-half means, v): to read the latent a displayed picture stands for."""
        import torch
        v = torch.linspace(-1.0, 1.0, 4001)
        u8 = (self.pictures(v)[:, 0, : self.size // 2, :] * 127.5 + 128.0).clamp(0, 255).to(torch.uint8)
        return u8.float().mean(dim=(1, 2)).numpy(), v.numpy()


class _Line:
    """A trajectory moving the latent at constant speed: ws[:, 0] = speed * (time since start)."""

    def __init__(self, G, speed: float) -> None:
        self.G, self.speed, self.t0 = G, speed, None

    def step(self, params, dt):
        from latentperform.events import LatentRequest
        if self.t0 is None:
            self.t0 = params.time
        ws = np.zeros((self.G.num_ws, self.G.w_dim), np.float32)
        ws[:, 0] = (params.time - self.t0) * self.speed
        return LatentRequest(z=np.zeros(self.G.z_dim, np.float32), ws=ws)

    def current_keyframe(self) -> int:
        return 0

    def param_specs(self):
        return []


def bench_interpolation(size: int, seconds: float, fps: float, delay: float, mode: str) -> dict:
    from dataclasses import replace

    from latentperform.clock import WallClock
    from latentperform.config import DEFAULT_PATCH
    from latentperform.engine import EnginePart, open_show
    from latentperform.patch import load_patch

    class Watch(EnginePart):
        wants_pixels = True

        def __init__(self) -> None:
            self.tops: list[float] = []    # the clock: mean of the top half
            self.ghosts: list[bool] = []   # the bar is not one clean white bar (a blend)
            self.times: list[float] = []
            self.last: bytes | None = None
            self.distinct: list[bool] = []

        def after_frame(self, engine, params, t) -> None:
            px = engine.last_pixels
            h = px.shape[0]
            row = px[(3 * h) // 4, :, 0].astype(np.int16)  # a row of the bar half
            self.tops.append(float(px[: h // 2, :, 0].mean()))
            self.ghosts.append(bool(np.any((row > 10) & (row < 245))))
            data = px.tobytes()
            self.distinct.append(data != self.last)
            self.last = data
            self.times.append(t)

    patch = load_patch(DEFAULT_PATCH)
    patch = replace(patch, mappings=(), output=replace(patch.output, shaders=()),
                    inputs=replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False)))
    G = _SlowRamp(size, delay)
    means, vs = G.clock()
    surface = HeadlessSurface((size, size))
    engine = open_show(patch, surface=surface, clock=WallClock(), fps=fps, generator=G, interpolation=mode)
    line = engine.trajectory = _Line(G, 2.0 / seconds)  # v from -1 to 1 over the run
    watch = engine.add_part(Watch())
    try:
        engine.run(seconds=seconds)
    finally:
        engine.close()
        surface.close()
    skip = int(fps)  # the first second: the first pictures and batches
    tops, times = np.asarray(watch.tops[skip:]), np.asarray(watch.times[skip:])
    v = np.interp(tops, means, vs)  # the latent each frame shows (a blend: between its two)
    stands_for = line.t0 + (v + 1.0) / line.speed
    per_frame = line.speed / fps  # how far v moves in one display period
    steps = np.abs(np.diff(v))
    out = engine.stats.summary()
    out.update(distinct_per_s=float(np.count_nonzero(watch.distinct[skip + 1:])) / max(times[-1] - times[0], 1e-9),
               step=float(steps.max()) / per_frame, blends=float(np.mean(watch.ghosts[skip:])),
               age_median=float(np.median(times - stands_for)), age_max=float(np.max(times - stands_for)),
               batches=G.batches[2:] or [1])
    return out


def main_interpolation(args) -> None:
    for size in args.sizes:
        print(f"{size}x{size}, display {args.fps:g} fps, a generator taking {args.slow_ms:g} ms a call "
              f"whatever the batch, {args.seconds:g} s a mode (the first second left out):")
        hold_age = None
        for mode in ("hold", "crossfade", "latent"):
            r = bench_interpolation(size, args.seconds, args.fps, args.slow_ms / 1e3, mode)
            if mode == "hold":
                hold_age = r["age_median"]
            b = np.asarray(r["batches"])
            batch = f"batches of {np.median(b):.0f} ({b.min()}..{b.max()})" if b.max() > 1 else "no batches"
            extra = ""
            if mode != "hold":
                extra = f" (+{(r['age_median'] - hold_age) * 1e3:.0f} ms over hold)"
            if mode == "latent":
                extra += (f", Stats.batch_delay {r['batch_delay_ms']:.0f} ms, {r['batch_dropped']} queued "
                          f"frames dropped")
            print(f"  {mode:9s} {r['distinct_per_s']:5.1f} distinct frames/s, {r['blends']:4.0%} of them blends; "
                  f"largest step {r['step']:4.1f} display periods of motion; picture age median "
                  f"{r['age_median'] * 1e3:.0f} ms, max {r['age_max'] * 1e3:.0f} ms{extra}; {batch}; "
                  f"loop {r['fps']:.1f} fps, stutter {r['stutter']:.2f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--passes", nargs="*", default=["feedback", "grade"])
    ap.add_argument("--engine", action="store_true", help="the live loop's pacing instead of the GL cost")
    ap.add_argument("--interpolation", action="store_true",
                    help="hold / crossfade / latent for a generator slower than the display")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=None, help="30 (--engine), 60 (--interpolation)")
    ap.add_argument("--slow-ms", type=float, default=None, help="150 (--engine), 100 (--interpolation)")
    args = ap.parse_args()
    if args.interpolation:
        args.sizes = args.sizes or [256]
        args.fps, args.slow_ms = args.fps or 60.0, args.slow_ms or 100.0
        main_interpolation(args)
        return
    args.fps, args.slow_ms = args.fps or 30.0, args.slow_ms or 150.0
    if args.engine:
        args.sizes = args.sizes or [256, 512]
        main_engine(args)
        return
    args.sizes = args.sizes or [256, 512, 1024]
    chain = " -> ".join([*args.passes, "output"])
    for size in args.sizes:
        med, p99, renderer = bench(size, args.frames, args.passes, read_back=False)
        rmed, rp99, _ = bench(size, args.frames, args.passes, read_back=True)
        print(f"{size}x{size} [{chain}] on {renderer}: upload+chain+present {med:.2f} ms median "
              f"(p99 {p99:.2f}); with read-back {rmed:.2f} ms (p99 {rp99:.2f})")


if __name__ == "__main__":
    main()
