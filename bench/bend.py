"""What a bend costs: ms per frame of the synthesis with no bender, with a bender whose bends sit
at neutral (its hooks are off), and with each op active on one mid layer, measured interleaved in
one run (round-robin over the variants), so a shared machine's load falls on all of them alike.

    python bench/bend.py [--model builtin:256x256] [--layer layer1] [--rounds 12]
    python bench/bend.py --model ../shared/fixtures/stylegan/sg2ada-skip-64.pkl --layer b32.conv1

Prints one line per variant: median ms/frame and the ratio to the unbent network.

    python bench/bend.py --picture docs/bend.png     one frame unbent, then bent by a few ops
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from latentperform.models import load_generator
from latentperform.models.bend import OPS, Bender, BendSpec
from latentperform.models.bend.layers import bend_layers, probe_ws


def active_values(op) -> dict:
    return {s.name: (s.neutral + 0.25 * (s.max - s.min)) if s.neutral < s.max else s.min for s in op.settings}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="builtin:256x256")
    ap.add_argument("--layer", default=None, help="default: the middle layer")
    ap.add_argument("--rounds", type=int, default=12)
    ap.add_argument("--threads", type=int, default=None)
    ap.add_argument("--picture", default=None, metavar="FILE.png")
    args = ap.parse_args()
    if args.picture:
        return picture(args.picture)
    if args.threads:
        torch.set_num_threads(args.threads)
    G = load_generator(args.model)
    layers = [info.name for info in bend_layers(G)]
    layer = args.layer or layers[len(layers) // 2]
    ws = probe_ws(G)
    benders = {}

    def run(name):
        if name == "no bender":
            return
        if name not in benders:
            if name == "bender, all neutral":
                benders[name] = Bender(G, [BendSpec(layer, op) for op in sorted(OPS)])
            else:
                op = name.split()[0]
                benders[name] = Bender(G, [BendSpec(layer, op, cluster=0, clusters=2,
                                                    values=active_values(OPS[op]()))])
        benders[name].update(None, 0)

    names = ["no bender", "bender, all neutral"] + [f"{op} active" for op in sorted(OPS)]
    times = {n: [] for n in names}
    with torch.no_grad():
        for n in names:  # build every bender (clusters) before timing
            run(n)
            for b in benders.values():
                b.close()
        for _ in range(args.rounds):
            for n in names:
                run(n)
                G.synthesis(ws)  # warm
                t0 = time.perf_counter()
                G.synthesis(ws)
                times[n].append((time.perf_counter() - t0) * 1e3)
                for b in benders.values():
                    b.close()
    base = statistics.median(times["no bender"])
    print(f"{args.model}  layer {layer}  ({args.rounds} rounds, interleaved; medians)")
    for n in names:
        med = statistics.median(times[n])
        print(f"  {n:<22} {med:8.2f} ms/frame  x{med / base:5.2f}")


PICTURE_BENDS = [
    ("as drawn", None),
    ("rotate 90, layer1 cluster 0", BendSpec("layer1", "rotate", cluster=0, clusters=3, values={"angle": 90.0})),
    ("dilate 3, layer2", BendSpec("layer2", "dilate", values={"radius": 3.0})),
    ("mirror, layer0 cluster 1", BendSpec("layer0", "mirror", cluster=1, clusters=2, values={"amount": 1.0})),
    ("shuffle, layer3", BendSpec("layer3", "shuffle", values={"amount": 1.0, "seed": 3.0})),
]


def picture(path: str) -> None:
    """The built-in network's seed-3 picture, then bent by each of PICTURE_BENDS, side by side."""
    import numpy as np
    from PIL import Image

    G = load_generator("builtin:256x256,seed=3")
    ws = probe_ws(G, seed=5)
    tiles = []
    with torch.no_grad():
        for _label, spec in PICTURE_BENDS:
            b = Bender(G, [spec]) if spec is not None else None
            img = G.synthesis(ws)[0]
            if b is not None:
                b.close()
            tiles.append(((img.clamp(-1, 1) + 1) * 127.5).byte().permute(1, 2, 0).numpy())
    gap = np.full((256, 6, 3), 255, np.uint8)
    row = np.concatenate([t for tile in tiles for t in (tile, gap)][:-1], axis=1)
    Image.fromarray(row).save(path)
    print(f"wrote {path}: " + " | ".join(label for label, _ in PICTURE_BENDS))


if __name__ == "__main__":
    main()
