"""The 2D layout of the samples: which pictures sit next to which on the map.

    layout(features (N, D), method="graph" | "umap" | "pca", seed) -> (N, 2) in [0, 1]²

"graph" (default): UMAP's recipe written here in torch, so it needs no new library and no JIT:
a k-nearest-neighbour graph with UMAP's fuzzy weights (per-point bandwidth so each point has
log2(k) total membership), symmetrised; PCA initialisation; then a force layout with UMAP's
low-dimensional kernel 1 / (1 + a d^2b), attraction along edges sampled by weight and
repulsion from random negative samples, all edges of an epoch updated at once (as GPU UMAPs do),
learning rate decaying to zero.  Why not umap-learn by default: on this 2-core machine its numba
JIT costs about a minute or more in every new process before the first layout (measured for
4,096 points: 61 s cold vs 8 s warm on a quieter moment; 117 s cold vs 11 s warm under load 11),
which alone would be a third or more of the 3-minute atlas budget; the torch version lays out
4,096 points in 2-7 s.  It is somewhat less faithful: trustworthiness (k = 10) 0.784 against
umap-learn's 0.816 and PCA's 0.724 on the same 4,096 built-in samples (bench/atlas.py prints all
three).  "umap" uses umap-learn when it
is installed (`pip install latentperform[atlas]`); "pca" is the instant, lower-quality fallback.
"""

from __future__ import annotations

import contextlib
import math
import warnings

import numpy as np
import torch

from ..config import UserError

METHODS = ("graph", "umap", "pca")
# UMAP's curve parameters for min_dist = 0.1, spread = 1 (the fit umap-learn does at start-up)
_A, _B = 1.577, 0.8951


@contextlib.contextmanager
def single_thread():
    """Torch on one thread for the many small operations of a layout: on a loaded 2-core machine
    two threads spin against each other (measured: 2.0 s on one thread, 9.8 s on two, for the same
    512-point layout)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """The first two principal components (signs fixed: each axis's largest loading positive)."""
    with single_thread():
        c = torch.as_tensor(np.asarray(x, np.float64))
        c = c - c.mean(0)
        cov = c.T @ c
        _, vecs = torch.linalg.eigh(cov)
        v = vecs[:, -2:].flip(1).T  # (2, D), largest variance first
        signs = torch.sign(v[torch.arange(2), v.abs().argmax(1)])
        return (c @ (v * signs[:, None]).T).numpy()


def knn(x: torch.Tensor, k: int, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """(distances (N, k), indices (N, k)) of each row's k nearest other rows (Euclidean)."""
    n = x.shape[0]
    sq = (x * x).sum(1)
    dists, idx = [], []
    for s in range(0, n, chunk):
        block = x[s:s + chunk]
        d2 = (sq[s:s + chunk, None] + sq[None, :] - 2 * block @ x.T).clamp(min=0)
        d2[torch.arange(len(block)), torch.arange(s, s + len(block))] = float("inf")
        d, i = torch.topk(d2, k, dim=1, largest=False)
        dists.append(d.sqrt())
        idx.append(i)
    return torch.cat(dists), torch.cat(idx)


def fuzzy_graph(d: torch.Tensor, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """UMAP's membership strengths: w_ij = exp(-(d_ij - rho_i) / sigma_i), sigma_i found by
    bisection so Σ_j w_ij = log2(k); then the fuzzy union w + wᵀ - w∘wᵀ.  -> (heads, tails, weights)."""
    n, k = d.shape
    rho = d[:, 0:1]
    target = math.log2(k)
    lo = torch.zeros(n, 1, dtype=d.dtype)
    hi = torch.full((n, 1), float("inf"), dtype=d.dtype)
    sigma = torch.ones(n, 1, dtype=d.dtype)
    for _ in range(64):
        total = torch.exp(-(d - rho).clamp(min=0) / sigma).sum(1, keepdim=True)
        too_big = total > target
        hi = torch.where(too_big, sigma, hi)
        lo = torch.where(too_big, lo, sigma)
        sigma = torch.where(torch.isinf(hi), sigma * 2, (lo + hi) / 2)
    w = torch.exp(-(d - rho).clamp(min=0) / sigma)
    heads = torch.arange(n).repeat_interleave(k)
    tails = idx.reshape(-1)
    with warnings.catch_warnings():  # torch's notice that it skips invariant checks (indices are built here)
        warnings.simplefilter("ignore")
        a = torch.sparse_coo_tensor(torch.stack([heads, tails]), w.reshape(-1), (n, n)).coalesce()
    at = a.t().coalesce()
    union = (a + at - a * at).coalesce()
    ij = union.indices()
    vals = union.values()
    keep = vals > 1e-3
    return ij[0][keep], ij[1][keep], vals[keep]


def graph_layout(x: np.ndarray, seed: int = 0, neighbours: int = 15, epochs: int = 200,
                 negatives: int = 5) -> np.ndarray:
    """(N, D) -> (N, 2): see the module docstring."""
    with single_thread():
        return _graph_layout(x, seed, neighbours, epochs, negatives)


def _graph_layout(x, seed, neighbours, epochs, negatives) -> np.ndarray:
    n = len(x)
    if n <= neighbours + 1:
        return pca_2d(x)
    g = torch.Generator().manual_seed(int(seed))
    xt = torch.as_tensor(np.asarray(x, np.float32))
    d, idx = knn(xt, neighbours)
    heads, tails, weights = fuzzy_graph(d.double(), idx)
    weights = weights.float()
    init = pca_2d(x)
    init = init / (np.abs(init).max() + 1e-12) * 10
    y = torch.as_tensor(init, dtype=torch.float32).contiguous()
    y += torch.randn(y.shape, generator=g) * 1e-4
    prob = weights / weights.max()
    for epoch in range(epochs):
        lr = 1.0 - epoch / epochs
        on = torch.rand(len(prob), generator=g) < prob   # each edge about w/w_max times per epoch
        h, t = heads[on], tails[on]
        diff = y[h] - y[t]
        d2 = (diff * diff).sum(1, keepdim=True)
        coef = (-2 * _A * _B * d2.clamp(min=1e-12) ** (_B - 1)) / (1 + _A * d2 ** _B)
        grad = (coef * diff).clamp(-4, 4)
        step = torch.zeros_like(y)
        step.index_add_(0, h, grad * lr)
        step.index_add_(0, t, -grad * lr)
        hn = h.repeat_interleave(negatives)
        neg = torch.randint(0, n, (len(hn),), generator=g)
        diff = y[hn] - y[neg]
        d2 = (diff * diff).sum(1, keepdim=True)
        coef = (2 * _B) / ((1e-3 + d2) * (1 + _A * d2 ** _B))
        grad = (coef * diff).clamp(-4, 4)
        step.index_add_(0, hn, grad * lr)
        # an edge-sampled point gets many updates at once; keep the summed step bounded like SGD's
        y += step.clamp(-4, 4)
    return y.numpy().astype(np.float64)


def umap_layout(x: np.ndarray, seed: int = 0, neighbours: int = 15) -> np.ndarray:
    try:
        import umap  # optional: pip install latentperform[atlas]
    except ImportError:
        raise UserError("layout 'umap' needs umap-learn (pip install umap-learn); "
                        "the default layout 'graph' needs nothing") from None
    reducer = umap.UMAP(n_neighbors=neighbours, random_state=int(seed), n_jobs=1, low_memory=True)
    return np.asarray(reducer.fit_transform(np.asarray(x, np.float32)), np.float64)


def normalise(y: np.ndarray, margin: float = 0.04) -> np.ndarray:
    """Each axis to [margin, 1 - margin]; the x axis is the wider spread (deterministic)."""
    y = np.asarray(y, np.float64)
    lo, hi = y.min(0), y.max(0)
    span = np.where(hi - lo > 1e-12, hi - lo, 1.0)
    return (margin + (y - lo) / span * (1 - 2 * margin)).astype(np.float32)


def layout(features: np.ndarray, method: str = "graph", seed: int = 0) -> np.ndarray:
    """(N, D) -> (N, 2) float32 in [0, 1]²."""
    if method not in METHODS:
        raise UserError(f"layout must be one of {', '.join(METHODS)}, got {method!r}")
    if method == "pca":
        y = pca_2d(features)
    elif method == "umap":
        y = umap_layout(features, seed)
    else:
        y = graph_layout(features, seed)
    return normalise(y)


def trustworthiness(x: np.ndarray, y: np.ndarray, k: int = 10, sample: int = 1500, seed: int = 0) -> float:
    """Venna & Kaski's trustworthiness T(k) in [0, 1]: 1 when every map neighbour is also a
    neighbour in the original space.  Computed for a random subset of at most `sample` points
    (ranks among that subset)."""
    x = np.asarray(x, np.float64)
    y = np.asarray(y, np.float64)
    n = len(x)
    if n > sample:
        keep = np.random.default_rng(seed).choice(n, sample, replace=False)
        x, y, n = x[keep], y[keep], sample
    dx = ((x[:, None] - x[None]) ** 2).sum(-1)
    dy = ((y[:, None] - y[None]) ** 2).sum(-1)
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dy, np.inf)
    rank_x = np.empty((n, n), dtype=np.int64)
    order = np.argsort(dx, axis=1)
    rank_x[np.arange(n)[:, None], order] = np.arange(1, n + 1)[None, :]
    nn_y = np.argsort(dy, axis=1)[:, :k]
    r = rank_x[np.arange(n)[:, None], nn_y]
    penalty = np.clip(r - k, 0, None).sum()
    return float(1 - 2.0 / (n * k * (2 * n - 3 * k - 1)) * penalty)
