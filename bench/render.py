"""GL frame cost, headless: upload + shader chain + present, and the read-back a recording adds.

    python bench/render.py [--sizes 256 512 1024] [--frames 200] [--passes feedback grade]

For each size N, an N x N uint8 frame (new contents every frame, as from a generator) is uploaded,
run through the chain into an N x N offscreen target, and finished (ctx.finish() stands in for
the swap).  Warm-up of 20 frames first; prints the median and p99 per frame, one line per size.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--passes", nargs="*", default=["feedback", "grade"])
    args = ap.parse_args()
    chain = " -> ".join([*args.passes, "output"])
    for size in args.sizes:
        med, p99, renderer = bench(size, args.frames, args.passes, read_back=False)
        rmed, rp99, _ = bench(size, args.frames, args.passes, read_back=True)
        print(f"{size}x{size} [{chain}] on {renderer}: upload+chain+present {med:.2f} ms median "
              f"(p99 {p99:.2f}); with read-back {rmed:.2f} ms (p99 {rp99:.2f})")


if __name__ == "__main__":
    main()
