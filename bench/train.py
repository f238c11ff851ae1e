"""Training speed and quality against training time, on a synthetic set with known structure
(coloured circles, squares and triangles on dark grounds, as tests/train uses).

    python bench/train.py [--size 32] [--channels 64] [--pictures 300] [--minutes 4] [--checkpoints 4]
    python bench/train.py --grid docs/train-samples.png     also keep the last sample grid there

Trains one network for --minutes, stopping --checkpoints times along the way (a resumed run makes
the same network as an uninterrupted one) to print: minutes, steps, images/s, held-out
reconstruction error as a share of the mean picture's (below 1 is learning), precision, recall.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentperform.train import TrainSettings, train  # noqa: E402
from tests.train.test_train import make_shapes  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--pictures", type=int, default=300)
    ap.add_argument("--minutes", type=float, default=4.0)
    ap.add_argument("--checkpoints", type=int, default=4)
    ap.add_argument("--grid", default=None, metavar="FILE.png")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lp-train-"))
    try:
        folder = make_shapes(work / "shapes", args.pictures, size=max(48, args.size))
        out = work / "bench.pt"
        print(f"{args.pictures} pictures at {args.size}², channels {args.channels}, batch 32")
        print(f"{'minutes':>8} {'steps':>6} {'img/s':>7} {'error/mean':>11} {'precision':>10} {'recall':>7}")
        for k in range(1, args.checkpoints + 1):
            f = train(TrainSettings(str(folder), str(out), resolution=args.size, base_channels=args.channels,
                                    minutes=args.minutes * k / args.checkpoints, samples_every=250, quiet=True))
            print(f"{f['seconds'] / 60:8.1f} {int(f['steps']):6d} {f['images_per_s']:7.1f} "
                  f"{f['recon_ratio']:11.3f} {f['precision']:10.2f} {f['recall']:7.2f}", flush=True)
        if args.grid:
            grids = sorted((work / "bench-samples").glob("*.png"))
            if grids:
                shutil.copy(grids[-1], args.grid)
                print(f"wrote {args.grid} ({grids[-1].name})")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
