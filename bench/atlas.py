"""The latent atlas's figures (issue 15): build time, lookup time per tick, smoothness, layouts.

    python3 bench/atlas.py                       # 4,096 samples, 96 px, built-in generator
    python3 bench/atlas.py --samples 1024 --size 64 --no-umap

Prints:
  build      end-to-end seconds of `latentperform atlas builtin --samples N --size PX` (in-process,
             same code), split into thumbnails and the rest
  lookup     microseconds per MapLookup call (one tick), median and 99th percentile
  smoothness the largest W step per unit of map distance along straight lines across the map,
             ours against a nearest-neighbour lookup (the ratio must be >= 10)
  layouts    trustworthiness (k = 10) and seconds of the graph layout, PCA, and umap-learn
             (cold: a new process, numba JIT included; and warm) on the same features
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from latentperform.atlas.build import build_atlas, layout_features  # noqa: E402
from latentperform.atlas.layout import graph_layout, normalise, pca_2d, trustworthiness  # noqa: E402
from latentperform.latent.maplookup import MapLookup  # noqa: E402
from latentperform.models.loader import load_generator  # noqa: E402

UMAP_SNIPPET = """
import sys, time, numpy as np
t0 = time.monotonic()
import umap
x = np.load(sys.argv[1])
y = umap.UMAP(n_neighbors=15, random_state=0, n_jobs=1, low_memory=True).fit_transform(x)
t1 = time.monotonic()
y = umap.UMAP(n_neighbors=15, random_state=0, n_jobs=1, low_memory=True).fit_transform(x)
t2 = time.monotonic()
np.save(sys.argv[2], y)
print(t1 - t0, t2 - t1)
"""


def line_slopes(fn, a, b, steps):
    ts = np.linspace(0, 1, steps)
    pts = a[None] + ts[:, None] * (b - a)[None]
    ws = np.stack([fn(x, y) for x, y in pts])
    return np.linalg.norm(np.diff(ws, axis=0), axis=1) / (np.linalg.norm(b - a) / (steps - 1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--samples", type=int, default=4096)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--no-umap", action="store_true")
    args = ap.parse_args()
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(load)} at start (shared: figures are disturbed)")

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "bench.atlas"
        t0 = time.monotonic()
        G = load_generator("builtin")
        atlas = build_atlas(G, "builtin", out, samples=args.samples, size=args.size, stream=io.StringIO())
        total = time.monotonic() - t0
        size_mb = out.stat().st_size / 1e6
        render = atlas.settings["render_seconds"]
        print(f"build      {args.samples} samples, {args.size} px: {total:.1f} s end to end "
              f"(thumbnails {render:.1f} s, the rest {total - render:.1f} s incl. the poster); "
              f"file {size_mb:.1f} MB; {len(atlas.regions)} regions")

        lookup = MapLookup(atlas.positions, atlas.w)
        rng = np.random.default_rng(0)
        pts = rng.uniform(0, 1, (3000, 2))
        times = []
        for x, y in pts:
            t = time.perf_counter()
            lookup(x, y)
            times.append(time.perf_counter() - t)
        times = np.array(times[100:]) * 1e6
        print(f"lookup     {np.median(times):.0f} us median, {np.percentile(times, 99):.0f} us p99 per tick "
              f"(N = {len(lookup)}, w_dim {atlas.w.shape[1]})")

        worst_ours, worst_nn = 0.0, 0.0
        for a, b in [((0.02, 0.5), (0.98, 0.5)), ((0.5, 0.02), (0.5, 0.98)), ((0.05, 0.05), (0.95, 0.95)),
                     ((0.05, 0.95), (0.95, 0.05))]:
            a, b = np.array(a), np.array(b)
            worst_ours = max(worst_ours, line_slopes(lookup, a, b, 4000).max())
            worst_nn = max(worst_nn, line_slopes(lambda x, y: atlas.w[lookup.nearest(x, y)], a, b, 4000).max())
        print(f"smoothness largest |dW| per unit of map distance over 4 lines (4,000 steps each): "
              f"ours {worst_ours:.0f}, nearest neighbour {worst_nn:.0f}: {worst_nn / worst_ours:.0f}x smoother")

        feats = layout_features(atlas.w, atlas.descriptors)
        t = time.monotonic()
        y_graph = graph_layout(feats)
        t_graph = time.monotonic() - t
        t = time.monotonic()
        y_pca = pca_2d(feats)
        t_pca = time.monotonic() - t
        print(f"layouts    trustworthiness (k=10, 1,500 points): graph {trustworthiness(feats, y_graph):.3f} "
              f"in {t_graph:.1f} s; pca {trustworthiness(feats, y_pca):.3f} in {t_pca:.2f} s")
        if not args.no_umap:
            np.save(Path(tmp) / "x.npy", feats)
            r = subprocess.run([sys.executable, "-c", UMAP_SNIPPET, str(Path(tmp) / "x.npy"), str(Path(tmp) / "y.npy")],
                               capture_output=True, text=True)
            if r.returncode != 0:
                print("           umap-learn: not run (" + (r.stderr.strip().splitlines() or ["?"])[-1] + ")")
            else:
                cold, warm = (float(v) for v in r.stdout.split()[-2:])
                y_umap = np.load(Path(tmp) / "y.npy")
                print(f"           umap-learn {trustworthiness(feats, normalise(y_umap)):.3f}: {cold:.1f} s in a new "
                      f"process (import + numba JIT + fit), {warm:.1f} s for a second fit in it")


if __name__ == "__main__":
    main()
