"""A map position -> a latent W, continuously: the live half of the latent atlas.

    lookup = MapLookup(positions, w)      # positions (N, 2) in [0, 1]², w (N, w_dim)
    w = lookup(x, y, zoom=1.0)            # (w_dim,) float32

It knows nothing of the model or of the atlas file: only sample positions on a map and the W
each sample has.  The atlas package builds those; a trajectory mode calls this once per tick.

The value at p is a kernel average of the samples' W,

    W(p) = Σ φ(d_i / R(p)) W_i / Σ φ(d_i / R(p)),    φ(r) = (1 - r)⁴ (4r + 1) for r < 1, else 0

φ is Wendland's C² kernel: smooth, and exactly zero beyond its radius, so a sample entering or
leaving the support adds nothing abruptly.  The radius R(p) = max(R₀ / zoom, c · d_k(p)), where
d_k(p) is the distance from p to its k-th nearest sample: a continuous function of p, so R is
too, and at least k samples always weigh in (the denominator never vanishes, even far outside
the cloud).  Every ingredient is continuous in p, so W(p) is: there is no jump anywhere, region
borders included (regions are labels for people; the lookup does not see them).  A nearest-
neighbour lookup, by contrast, jumps by a whole sample's difference at every Voronoi edge.

zoom sets how locally the map is read: R₀ is a few typical sample spacings at zoom 1 (a soft
blend of the dozen nearest pictures); zooming in narrows it until only the k nearest remain
(individual samples show through); zooming out blends wider areas.

Cost per call: one distance per sample (N×2 numpy), one partial sort, and a weighted sum over
the few samples inside R: well under 0.1 ms for N = 4096 (bench/atlas.py measures it).
"""

from __future__ import annotations

import numpy as np

ZOOM_RANGE = (0.25, 16.0)


def wendland(r: np.ndarray) -> np.ndarray:
    """φ(r) = (1 - r)⁴ (4r + 1) on [0, 1), 0 beyond: C², compactly supported, φ(0) = 1."""
    r = np.clip(r, 0.0, 1.0)
    return (1.0 - r) ** 4 * (4.0 * r + 1.0)


def typical_spacing(positions: np.ndarray, chunk: int = 2048) -> float:
    """The median distance from a sample to its nearest other sample."""
    pos = np.asarray(positions, dtype=np.float64)
    n = len(pos)
    if n < 2:
        return 1.0
    nearest = np.empty(n)
    for start in range(0, n, chunk):
        block = pos[start:start + chunk]
        d2 = ((block[:, None, :] - pos[None, :, :]) ** 2).sum(-1)
        d2[np.arange(len(block)), np.arange(start, start + len(block))] = np.inf
        nearest[start:start + len(block)] = np.sqrt(d2.min(1))
    return float(max(np.median(nearest), 1e-6))


class MapLookup:
    """See the module docstring.

    positions   (N, 2) sample positions on the map (the atlas keeps them in [0, 1]²)
    w           (N, w_dim) each sample's W
    neighbours  k: at least this many samples always weigh in
    reach       c: R ≥ c · d_k (c > 1 so the k-th sample has a non-zero weight)
    spacings    R₀ = spacings × the typical sample spacing, the radius at zoom 1
    """

    def __init__(self, positions: np.ndarray, w: np.ndarray, *, neighbours: int = 4, reach: float = 1.5,
                 spacings: float = 3.0) -> None:
        pos = np.asarray(positions, dtype=np.float64)
        w = np.asarray(w, dtype=np.float32)
        if pos.ndim != 2 or pos.shape[1] != 2 or len(pos) == 0:
            raise ValueError(f"positions must be (N, 2) with N ≥ 1, got {pos.shape}")
        if w.ndim != 2 or len(w) != len(pos):
            raise ValueError(f"w must be (N, w_dim) with N = {len(pos)}, got {w.shape}")
        if not (np.all(np.isfinite(pos)) and np.all(np.isfinite(w))):
            raise ValueError("positions and w must be finite")
        self.positions = pos
        self.w = w
        self.k = int(min(max(neighbours, 1), len(pos)))
        self.reach = float(reach)
        self.spacing = typical_spacing(pos)
        self.base_radius = float(spacings) * self.spacing
        self._px = np.ascontiguousarray(pos[:, 0])
        self._py = np.ascontiguousarray(pos[:, 1])

    def __len__(self) -> int:
        return len(self.positions)

    def radius(self, d2: np.ndarray, zoom: float) -> float:
        """R(p) from the squared distances of every sample to p."""
        kth = np.partition(d2, self.k - 1)[self.k - 1] if self.k < len(d2) else d2.max()
        zoom = float(np.clip(zoom, *ZOOM_RANGE))
        return max(self.base_radius / zoom, self.reach * float(np.sqrt(kth)), 1e-9)

    def weights(self, x: float, y: float, zoom: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """(indices, normalised weights) of the samples that make W at (x, y)."""
        dx = self._px - float(x)
        dy = self._py - float(y)
        d2 = dx * dx + dy * dy
        r = self.radius(d2, zoom)
        idx = np.flatnonzero(d2 < r * r)
        wts = wendland(np.sqrt(d2[idx]) / r)
        total = wts.sum()
        if not total > 0:  # only when p sits exactly on the radius of every sample (cannot, c > 1)
            idx = np.array([int(np.argmin(d2))])
            wts = np.ones(1)
            total = 1.0
        return idx, wts / total

    def __call__(self, x: float, y: float, zoom: float = 1.0) -> np.ndarray:
        """(w_dim,) float32: W at map position (x, y)."""
        idx, wts = self.weights(x, y, zoom)
        return (wts.astype(np.float32) @ self.w[idx]).astype(np.float32)

    def nearest(self, x: float, y: float) -> int:
        """The index of the sample nearest (x, y): the reference a smooth lookup is compared to."""
        return int(np.argmin((self._px - x) ** 2 + (self._py - y) ** 2))
