"""Regions of the map: k-means on the 2D positions, the number chosen by silhouette, each with a
representative picture and a name made from what it looks like.

Clustering the map (not W) keeps every region one connected patch of the poster, which is what
a performer navigates.  k is the one with the best mean silhouette among 2..max_regions; when
even the best is weak (below CLEAR_SILHOUETTE: the samples form one continuous field, as the
built-in network's do) the map is cut into about sqrt(N / 50) regions instead, which are then
places to go rather than natural clusters.

Names are "<colour>-<texture>" read from the representative's descriptors (dominant hue or
grey level, and gradient energy / orientation), with "-2", "-3" for repeats.  They depend only on
the atlas content, and the regions are numbered in reading order (rows of the map top to bottom,
left to right), so the same atlas always gives the same names in the same order.
"""

from __future__ import annotations

import colorsys

import numpy as np

from .atlasfile import Region
from .describe import NAMES

CLEAR_SILHOUETTE = 0.5
SELECT_SAMPLE = 1200
_HUES = ((15, "red"), (40, "orange"), (55, "amber"), (70, "yellow"), (100, "lime"), (150, "green"),
         (175, "teal"), (195, "cyan"), (220, "azure"), (255, "blue"), (285, "violet"), (320, "magenta"),
         (345, "rose"), (360, "red"))


def kmeans(x: np.ndarray, k: int, seed: int = 0, iterations: int = 60, restarts: int = 4) -> tuple[np.ndarray, np.ndarray]:
    """(labels (N,), centres (k, D)): Lloyd's algorithm from k-means++ seeds, best of `restarts`."""
    x = np.asarray(x, np.float64)
    rng = np.random.default_rng(seed)
    best = None
    for _ in range(restarts):
        centres = [x[rng.integers(len(x))]]
        for _ in range(1, k):
            d2 = np.min(((x[:, None] - np.asarray(centres)[None]) ** 2).sum(-1), 1)
            total = d2.sum()
            p = d2 / total if total > 0 else None
            centres.append(x[rng.choice(len(x), p=p)])
        c = np.asarray(centres)
        for _ in range(iterations):
            labels = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
            new = np.array([x[labels == j].mean(0) if np.any(labels == j) else c[j] for j in range(k)])
            if np.allclose(new, c):
                break
            c = new
        labels = ((x[:, None] - c[None]) ** 2).sum(-1).argmin(1)
        inertia = ((x - c[labels]) ** 2).sum()
        if best is None or inertia < best[0]:
            best = (inertia, labels, c)
    return best[1], best[2]


def silhouette(x: np.ndarray, labels: np.ndarray, sample: int = 1200, seed: int = 0) -> float:
    """Mean silhouette (b - a) / max(a, b) over a random subset."""
    x = np.asarray(x, np.float64)
    n = len(x)
    keep = np.random.default_rng(seed).choice(n, min(n, sample), replace=False)
    xs, ls = x[keep], labels[keep]
    d = np.sqrt(((xs[:, None] - xs[None]) ** 2).sum(-1))
    ks = np.unique(ls)
    if len(ks) < 2:
        return -1.0
    mean_to = np.stack([d[:, ls == j].sum(1) / np.maximum((ls == j).sum() - (ls == j) * 1.0, 1) for j in ks], 1)
    own = np.searchsorted(ks, ls)
    a = mean_to[np.arange(len(ls)), own]
    mean_to[np.arange(len(ls)), own] = np.inf
    b = mean_to.min(1)
    s = (b - a) / np.maximum(np.maximum(a, b), 1e-12)
    return float(np.mean(s))


def choose_regions(positions: np.ndarray, max_regions: int = 16, count: int | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(labels, centres) for the map; count forces the number of regions."""
    n = len(positions)
    if count is not None:
        return kmeans(positions, max(1, min(int(count), n)), seed)
    # k is chosen on a subsample (the silhouette only needs the shape of the cloud), then the
    # regions are fitted on every sample
    sub = positions
    if n > SELECT_SAMPLE:
        sub = positions[np.random.default_rng(seed).choice(n, SELECT_SAMPLE, replace=False)]
    best = None
    for k in range(2, min(max_regions, len(sub) - 1) + 1):
        labels, _ = kmeans(sub, k, seed)
        s = silhouette(sub, labels, seed=seed)
        if best is None or s > best[0] + 1e-3:  # ties go to fewer regions
            best = (s, k)
    if best is None:
        return np.zeros(n, dtype=np.int64), positions.mean(0, keepdims=True)
    k = best[1] if best[0] >= CLEAR_SILHOUETTE else int(np.clip(round(np.sqrt(n / 50)), 2, max_regions))
    return kmeans(positions, k, seed)


def _colour_word(thumb: np.ndarray) -> str:
    """The colour a person would name: the mean of the more saturated half of the pixels."""
    px = thumb.reshape(-1, 3).astype(np.float64) / 255
    sat = px.max(1) - px.min(1)
    vivid = px[sat >= np.median(sat)]
    h, s, v = colorsys.rgb_to_hsv(*vivid.mean(0))
    if v < 0.2:
        return "dark"
    if s < 0.2:
        return "pale" if v > 0.75 else "grey"
    deg = h * 360
    for limit, word in _HUES:
        if deg < limit:
            return word
    return "red"


def _texture_word(desc: np.ndarray, all_desc: np.ndarray) -> str:
    idx = {name: i for i, name in enumerate(NAMES)}
    energy = desc[idx["grad1"]] + desc[idx["lap1"]]
    pool = all_desc[:, idx["grad1"]] + all_desc[:, idx["lap1"]]
    q = (pool < energy).mean()  # rank among the atlas: words are relative to this model's range
    orient = desc[[idx[f"orient{k}"] for k in range(8)]]
    if orient.max() > 0.3:
        return "stripes" if q > 0.4 else "bands"
    return ("haze", "swirls", "ripples", "weave", "grain")[min(int(q * 5), 4)]


def name_regions(positions: np.ndarray, labels: np.ndarray, descriptors: np.ndarray,
                 thumbnails: np.ndarray) -> tuple[list[Region], np.ndarray]:
    """(regions in reading order, labels renumbered to that order)."""
    ks = [k for k in np.unique(labels)]
    centres = {k: positions[labels == k].mean(0) for k in ks}
    # reading order: bands of the map's height, left to right within a band
    rows = max(1, int(round(np.sqrt(len(ks)))))
    order = sorted(ks, key=lambda k: (int(min(centres[k][1], 0.999) * rows), centres[k][0]))
    remap = np.zeros(int(max(ks)) + 1, dtype=np.int16)
    regions: list[Region] = []
    used: dict[str, int] = {}
    for new, k in enumerate(order):
        remap[k] = new
        members = np.flatnonzero(labels == k)
        c = centres[k]
        rep = int(members[np.argmin(((positions[members] - c) ** 2).sum(1))])
        base = f"{_colour_word(thumbnails[rep])}-{_texture_word(descriptors[rep], descriptors)}"
        used[base] = used.get(base, 0) + 1
        name = base if used[base] == 1 else f"{base}-{used[base]}"
        regions.append(Region(name, rep, (float(c[0]), float(c[1])), len(members)))
    return regions, remap[labels]
