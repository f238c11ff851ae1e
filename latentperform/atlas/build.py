"""`latentperform atlas MODEL --out NAME.atlas`: sample, render, describe, lay out, cut into
regions, write the atlas and its poster.

    atlas = build_atlas(G, "builtin", out="my.atlas", samples=4096, size=96)

What the map is made of: each sample's W (centred, scaled to unit total variance) beside its
picture descriptor (standardised per column, the block scaled to DESCRIPTOR_WEIGHT of W's
variance).  W dominates so that map neighbours are latent neighbours (which is what makes
travelling the map smooth); the descriptor term pulls alike-looking pictures together where W
alone does not separate them.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
import torch

from ..config import UserError
from ..latent.directions import principal_directions
from .atlasfile import Atlas, write_atlas
from .describe import NAMES, describe_pictures, standardise
from .layout import METHODS, layout
from .regions import choose_regions, name_regions
from .sample import PartialBuild, Progress, map_seeds, model_identity, render_thumbnails

DESCRIPTOR_WEIGHT = 0.5
ARROWS = 4


def layout_features(w: np.ndarray, descriptors: np.ndarray, descriptor_weight: float = DESCRIPTOR_WEIGHT) -> np.ndarray:
    wc = np.asarray(w, np.float64) - np.mean(w, 0)
    wc /= np.sqrt((wc ** 2).sum(1).mean()) + 1e-12
    dz, _, _ = standardise(descriptors)
    dz = dz.astype(np.float64) / np.sqrt(dz.shape[1]) * np.sqrt(descriptor_weight)
    return np.concatenate([wc, dz], 1).astype(np.float32)


def direction_arrows(w: np.ndarray, positions: np.ndarray, count: int = ARROWS) -> np.ndarray:
    """(count, 2): how far the map moves along each of the top principal directions of W, for one
    standard deviation along it (a least-squares linear fit of the map from W)."""
    dirs, var = principal_directions(np.asarray(w, np.float64), count)
    wc = np.asarray(w, np.float64) - np.mean(w, 0)
    coef, *_ = np.linalg.lstsq(np.c_[wc, np.ones(len(wc))], np.asarray(positions, np.float64), rcond=None)
    lin = coef[:-1]  # (w_dim, 2)
    return (dirs.astype(np.float64) @ lin) * np.sqrt(var.astype(np.float64))[:, None]


def check_output(out: str | os.PathLike) -> Path:
    p = Path(out).expanduser()
    if p.is_dir():
        raise UserError(f"cannot write {p}: it is a directory")
    if not p.parent.is_dir():
        raise UserError(f"cannot write {p}: the folder {p.parent} does not exist")
    return p


def build_atlas(G, spec: str, out: str | os.PathLike, samples: int = 4096, size: int = 96, psi: float = 1.0,
                seed_base: int = 0, method: str = "graph", regions: int | None = None, batch: int = 64,
                poster: str | os.PathLike | None = "auto", stream=None, resume: bool = True) -> Atlas:
    """Build and write the atlas (and the poster, beside it by default: NAME.png)."""
    stream = stream if stream is not None else sys.stderr
    out = check_output(out)
    if samples < 8:
        raise UserError(f"an atlas needs at least 8 samples, got {samples}")
    if not 16 <= size <= 512:
        raise UserError(f"thumbnail size must be 16..512 px, got {size}")
    if method not in METHODS:
        raise UserError(f"layout must be one of {', '.join(METHODS)}, got {method!r}")
    t0 = time.monotonic()
    seeds = np.arange(seed_base, seed_base + samples, dtype=np.int64)
    identity = model_identity(G, spec)
    w = map_seeds(G, seeds, psi)
    key = {"model": identity, "samples": samples, "size": size, "psi": psi, "seed_base": seed_base}
    partial = PartialBuild(out, key) if resume else None
    bar = Progress(samples, "thumbnails", stream)
    done = sum(1 for s in range(0, samples, batch) if partial is not None and partial._path(s).is_file())
    if done:
        stream.write(f"resuming: {min(done * batch, samples)} thumbnails already rendered\n")
    thumbs = render_thumbnails(G, w, size, batch=batch, partial=partial, progress=bar.update)
    t_render = time.monotonic() - t0
    stream.write("describing, laying out, finding regions ...\n")
    stream.flush()
    desc = describe_pictures(thumbs)
    positions = layout(layout_features(w, desc), method, seed=seed_base)
    labels, _ = choose_regions(positions, count=regions, seed=seed_base)
    region_list, labels = name_regions(positions, labels, desc, thumbs)
    arrows = direction_arrows(w, positions)
    settings = {"samples": samples, "size": size, "psi": psi, "seed_base": seed_base, "layout": method,
                "descriptors": list(NAMES), "descriptor_weight": DESCRIPTOR_WEIGHT,
                "seconds": round(time.monotonic() - t0, 2), "render_seconds": round(t_render, 2)}
    atlas = Atlas(model=identity, settings=settings, seeds=seeds, w=w, positions=positions,
                  labels=labels.astype(np.int16), descriptors=desc, thumbnails=thumbs,
                  regions=region_list, directions=arrows)
    write_atlas(atlas, out)
    if partial is not None:
        partial.remove()
    if poster == "auto":
        poster = out.with_suffix(".png")
    if poster:
        from .poster import draw_poster
        draw_poster(atlas, poster)
    return atlas


def summary(atlas: Atlas, poster: str | None = None) -> str:
    lines = [f"{atlas.path}: {len(atlas)} samples of {atlas.model['spec']} ({atlas.model['kind']}), "
             f"{atlas.settings['size']} px thumbnails, layout {atlas.settings['layout']}, "
             f"{atlas.settings['seconds']:.1f} s",
             f"  {len(atlas.regions)} regions:"]
    for i, r in enumerate(atlas.regions):
        lines.append(f"   {i:2d} {r.name:<20} {r.size:5d} samples, shown by seed {int(atlas.seeds[r.representative])}, "
                     f"at ({r.centre[0]:.2f}, {r.centre[1]:.2f})")
    if poster:
        lines.append(f"  poster {poster}")
    return "\n".join(lines)


def torch_threads() -> None:
    """Use the machine's cores for the batch renders (torch's default can be one on some builds)."""
    torch.set_num_threads(max(1, os.cpu_count() or 1))
