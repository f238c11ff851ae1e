"""GL frame cost, headless: upload + shader chain + present, and the read-back a recording adds;
with --engine, the whole live loop's pacing.

    python bench/render.py [--sizes 256 512 1024] [--frames 200] [--passes feedback grade]
    python bench/render.py --engine [--sizes 256 512] [--seconds 5] [--fps 30] [--slow-ms 150]

For each size N, an N x N uint8 frame (new contents every frame, as from a generator) is uploaded,
run through the chain into an N x N offscreen target, and finished (ctx.finish() stands in for
the swap).  Warm-up of 20 frames first; prints the median and p99 per frame, one line per size.

--engine runs a headless live Engine (wall clock, the default patch, no inputs) for
`--seconds` per line, through `--passes`: the built-in generator at N x N, then a generator that takes `--slow-ms` a
frame under each in-between mode (crossfade, hold, latent).  It prints the loop's frame time
median/p99, stutter (p99 / median), the generator's period, and the largest change of the mean
picture between two consecutive display frames ("step": how hard the hardest cut was, 0..255).
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
    from latentperform.engine import Engine, EnginePart
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
    engine = Engine(patch, surface=surface, clock=WallClock(), fps=fps, generator=generator,
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
                  for mode in ("crossfade", "hold", "latent")]
        for label, gen, mode in cases:
            r = bench_engine(size, args.seconds, args.fps, gen, mode, args.passes)
            print(f"{size}x{size} {label}, {mode}: {r['fps']:.1f} fps (target {args.fps:g}), frame time "
                  f"{r['frame_ms_median']:.1f} ms median, p99 {r['frame_ms_p99']:.1f} ms, stutter "
                  f"{r['stutter']:.2f}; generator {r['gen_ms']:.1f} ms, a frame every "
                  f"{r['gen_period_ms']:.0f} ms; hardest step {r['step']:.0f}/255")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=None)
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--passes", nargs="*", default=["feedback", "grade"])
    ap.add_argument("--engine", action="store_true", help="the live loop's pacing instead of the GL cost")
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--slow-ms", type=float, default=150.0)
    args = ap.parse_args()
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
