"""Channel clusters: the feature maps of a layer grouped by how they fire together.

Each channel's activations over a fixed sample of latents (downsampled to at most 16x16) make
one vector; channels whose vectors correlate are one cluster (spherical k-means on the
standardised vectors, a fixed seed, k-means++ start).  The result is cached per network in
memory, and on disk per model file like the directions (LATENTPERFORM_CACHE_DIR).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .layers import capture, probe_ws

SAMPLES = 16


def cache_dir() -> Path:
    env = os.environ.get("LATENTPERFORM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "latentperform"


def spherical_kmeans(v: np.ndarray, k: int, seed: int = 0, iters: int = 30, restarts: int = 8) -> np.ndarray:
    """Rows of v (n, d) -> labels (n,) in 0..k-1, every cluster non-empty, sorted by size
    (largest first) then by first member, so labels are stable.  The best of `restarts`
    k-means++ starts (highest total similarity to the centres) wins."""
    n = len(v)
    k = max(1, min(int(k), n))
    v = v - v.mean(1, keepdims=True)
    v = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-9)
    rng = np.random.default_rng(seed)
    best, best_fit = None, -np.inf
    for _ in range(restarts):
        labels, fit = _kmeans_once(v, k, rng, iters)
        if fit > best_fit + 1e-9:
            best, best_fit = labels, fit
    order = sorted(range(k), key=lambda j: (-np.sum(best == j), np.flatnonzero(best == j)[0]))
    remap = np.empty(k, dtype=np.int64)
    remap[order] = np.arange(k)
    return remap[best]


def _kmeans_once(v: np.ndarray, k: int, rng: np.random.Generator, iters: int) -> tuple[np.ndarray, float]:
    n = len(v)
    centres = [v[rng.integers(n)]]
    for _ in range(1, k):  # k-means++: far from the centres so far
        p = np.maximum(1.0 - np.max(v @ np.stack(centres).T, axis=1), 0) + 1e-12
        centres.append(v[rng.choice(n, p=p / p.sum())])
    c = np.stack(centres)
    labels = np.full(n, -1, dtype=np.int64)
    for _ in range(iters):
        new = np.argmax(v @ c.T, axis=1)
        for j in range(k):  # an empty cluster takes the worst-fitting member of a bigger one
            if not np.any(new == j):
                fit = np.max(v @ c.T, axis=1)
                fit[np.bincount(new, minlength=k)[new] < 2] = np.inf
                new[np.argmin(fit)] = j
        if np.array_equal(new, labels):
            break
        labels = new
        for j in range(k):
            m = v[labels == j].sum(0)
            c[j] = m / max(np.linalg.norm(m), 1e-9)
    return labels, float(np.sum(v * c[labels]))


_memory: dict = {}


def channel_clusters(G, layer: str, k: int, model_key: str | None = None) -> np.ndarray:
    """Labels (channels,) for `layer` of G, k clusters."""
    key = (id(G), layer, int(k))
    if key in _memory:
        return _memory[key]
    path = None
    if model_key and Path(model_key).is_file():
        st = Path(model_key).stat()
        digest = hashlib.sha1(f"{Path(model_key).resolve()}|{st.st_size}|{st.st_mtime_ns}|{layer}|{k}".encode()).hexdigest()[:16]
        path = cache_dir() / f"clusters-{digest}.npy"
        try:
            labels = np.load(path)
            _memory[key] = labels
            return labels
        except (OSError, ValueError):
            pass  # no cache yet, or a damaged one: compute
    maps = capture(G, [layer], probe_ws(G, SAMPLES, seed=1234), size=64)[layer].float()
    if maps.shape[-1] > 16:
        maps = F.adaptive_avg_pool2d(maps, 16)
    v = maps.transpose(0, 1).reshape(maps.shape[1], -1).cpu().numpy().astype(np.float64)
    labels = spherical_kmeans(v, k)
    _memory[key] = labels
    if path is not None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".tmp.npy")
            np.save(tmp, labels)
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs time
    return labels
