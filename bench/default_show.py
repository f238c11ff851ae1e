"""The default show on this machine: how many distinct generated pictures reach the screen each
second at the default 1280x720 (the issue's bar: at least 24 on the 2-core CPU).

    python bench/default_show.py [--seconds 8] [--resolutions 256 192 160] [--size 1280x720]

Each run is the default patch as `latentperform run --headless --no-audio` plays it (wall
clock, its shader passes at their live work_scale, crossfade), with [model] resolution set
to each value in turn: the built-in picture is rendered at about resolution² pixels, shaped like
the output, and scaled up to 1280x720 by the GL chain.  Printed per run: displayed frames/s,
distinct generator frames/s (new pictures from the worker over the timed part, after one second
of warm-up), the generator's median ms and the picture's size.  The machine is shared: run all
sizes in one go so the comparison is fair.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import replace


def run(resolution: int | None, size: tuple[int, int], seconds: float) -> dict:
    from latentperform.clock import WallClock
    from latentperform.config import DEFAULT_PATCH
    from latentperform.engine import EnginePart, open_show
    from latentperform.patch import load_patch
    from latentperform.render import HeadlessSurface

    class Count(EnginePart):
        """(time, generator frames so far, generator ms) after every frame."""

        def __init__(self) -> None:
            self.rows: list[tuple[float, int, float]] = []

        def after_frame(self, engine, params, t) -> None:
            self.rows.append((t, engine.stats.gen_frames, engine.stats.gen_ms))

    patch = load_patch(DEFAULT_PATCH)
    if resolution is not None:
        patch = replace(patch, model=replace(patch.model, resolution=resolution))
    patch = replace(patch, inputs=replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False)))
    surface = HeadlessSurface(size)
    engine = open_show(patch, surface=surface, clock=WallClock(), fps=float(patch.output.fps))
    count = engine.add_part(Count())
    try:
        engine.run(seconds=seconds)
    finally:
        engine.close()
        surface.close()
    rows = [r for r in count.rows if r[0] >= 1.0]
    (t0, g0, _), (t1, g1, _) = rows[0], rows[-1]
    picture = getattr(engine.generator, "width", None), getattr(engine.generator, "resolution", None)
    return {"fps": (len(rows) - 1) / (t1 - t0), "distinct": (g1 - g0) / (t1 - t0),
            "gen_ms": statistics.median(r[2] for r in rows), "picture": picture}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--resolutions", type=int, nargs="*", default=None,
                    help="[model] resolution values to try (default: the patch's own)")
    ap.add_argument("--size", default="1280x720")
    args = ap.parse_args()
    size = tuple(int(v) for v in args.size.lower().split("x"))
    import os
    print(f"machine: {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (other work on it slows every figure)")
    for res in args.resolutions or [None]:
        r = run(res, size, args.seconds)
        w, h = r["picture"]
        label = "patch default" if res is None else f"resolution {res}"
        print(f"{size[0]}x{size[1]}, {label} (picture {w}x{h}): {r['fps']:.1f} fps shown, "
              f"{r['distinct']:.1f} distinct generated frames/s, generator {r['gen_ms']:.1f} ms median")


if __name__ == "__main__":
    main()
