"""Semantic directions in W: found automatically (PCA of sampled w, as in GANSpace), cached per
model file, or loaded from a user's `.npy`.

    dirs = directions_for(G, "models/faces.pkl", count=8)   # (8, w_dim), unit vectors
    ws = ws + amount * torch.from_numpy(dirs[k])             # `latent/direction/<k>`

PCA: sample N z, map them (truncation 1), centre the w's, take the top principal axes.  The
first axes carry the largest variation of the learned distribution and, in practice, read as
global attributes (pose, zoom, colour, layout).  Each axis's sign is fixed so that its largest
component is positive: the same model always gives the same directions.

The cache is an npz per (model file, its size and mtime, count, samples, seed) in
$LATENTPERFORM_CACHE_DIR (default ~/.cache/latentperform).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from ..config import UserError


def cache_dir() -> Path:
    env = os.environ.get("LATENTPERFORM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "latentperform"


def _sample_w(G, samples: int, seed: int, batch: int = 1024) -> np.ndarray:
    g = torch.Generator().manual_seed(int(seed))
    device = G.w_avg.device
    out = []
    with torch.no_grad():
        for start in range(0, samples, batch):
            n = min(batch, samples - start)
            z = torch.randn(n, G.z_dim, generator=g).to(device)
            c = None
            if G.c_dim:
                c = torch.zeros(n, G.c_dim, device=device)
                c[torch.arange(n), (torch.arange(n) + start) % G.c_dim] = 1
            ws = G.mapping(z, c, truncation_psi=1.0)
            out.append(ws[:, 0].float().cpu().numpy().astype(np.float64))
    return np.concatenate(out)


def principal_directions(w: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    """Top `count` principal axes of the rows of w (unit vectors, by decreasing variance) and
    their variances."""
    if w.ndim != 2 or w.shape[0] < 2:
        raise ValueError("need at least two samples of w")
    count = min(int(count), w.shape[1])
    centred = w - w.mean(axis=0, keepdims=True)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    dirs = vt[:count]
    signs = np.sign(dirs[np.arange(count), np.abs(dirs).argmax(axis=1)])
    dirs = dirs * signs[:, None]
    variance = s[:count] ** 2 / (w.shape[0] - 1)
    return dirs.astype(np.float32), variance.astype(np.float32)


def find_directions(G, count: int = 8, samples: int = 10_000, seed: int = 0) -> np.ndarray:
    """(count, w_dim) unit vectors in W, ordered by the variance of sampled w along them."""
    if count < 1:
        raise ValueError(f"count must be at least 1, got {count}")
    samples = max(int(samples), 2 * int(count), 2)
    dirs, _ = principal_directions(_sample_w(G, samples, seed), count)
    return dirs


def _model_fingerprint(model_key: str | os.PathLike) -> str:
    path = Path(model_key)
    try:
        st = path.stat()
        return f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    except (OSError, ValueError):
        return str(model_key)  # a spec such as "builtin:256" or "python:pkg.mod:make"


def directions_for(G, model_key: str | os.PathLike, count: int = 8, samples: int = 10_000,
                   seed: int = 0) -> np.ndarray:
    """`find_directions`, cached on disk per model file (path, size and mtime) and arguments."""
    fingerprint = f"{_model_fingerprint(model_key)}|{G.w_dim}|{count}|{samples}|{seed}"
    digest = hashlib.sha256(fingerprint.encode()).hexdigest()[:24]
    path = cache_dir() / f"directions-{digest}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as data:
                dirs = data["directions"]
            if dirs.shape[1] == G.w_dim and np.isfinite(dirs).all():
                return dirs.astype(np.float32)
        except (OSError, KeyError, ValueError, IndexError):
            pass  # a damaged cache entry is recomputed
    dirs = find_directions(G, count, samples, seed)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + f".{os.getpid()}.tmp.npz")
        np.savez(tmp, directions=dirs, key=np.array(fingerprint))
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only cache only costs time
    return dirs


def load_directions(path: str | os.PathLike, w_dim: int, normalize: bool = True) -> np.ndarray:
    """User direction vectors from a `.npy`: shape (w_dim,) or (k, w_dim); float, finite,
    non-zero.  Returned as (k, w_dim) float32, unit length unless normalize=False."""
    path = Path(path)
    try:
        # allow_pickle=False: an object array (a pickle inside the .npy) is refused, not run
        arr = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise UserError(f"{path}: no such directions file") from None
    except (ValueError, OSError) as e:
        raise UserError(f"{path.name}: not a numeric .npy array ({str(e).splitlines()[0][:120]})") from None
    if not isinstance(arr, np.ndarray):
        raise UserError(f"{path.name}: expected one .npy array, got {type(arr).__name__}")
    if arr.dtype.kind not in "fiu":
        raise UserError(f"{path.name}: directions must be numbers, got dtype {arr.dtype}")
    shape = tuple(arr.shape)
    if arr.ndim == 1:
        arr = arr[None]
    if arr.ndim != 2 or arr.shape[1] != w_dim or arr.shape[0] == 0:
        raise UserError(f"{path.name}: directions must have shape ({w_dim},) or (k, {w_dim}) for this "
                        f"model, got {shape}")
    arr = arr.astype(np.float32)
    if not np.isfinite(arr).all():
        raise UserError(f"{path.name}: directions hold NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1)
    if (norms < 1e-8).any():
        raise UserError(f"{path.name}: direction {int(np.argmin(norms))} is all zeros")
    return arr / norms[:, None] if normalize else arr
