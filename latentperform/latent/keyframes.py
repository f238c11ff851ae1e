"""Latent vectors from seeds and files, the same on every machine.

z for a seed is `numpy.random.default_rng(seed).standard_normal(z_dim)`: numpy's PCG64 stream,
which does not depend on the platform, the GPU or torch's version.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..config import UserError


def z_from_seed(seed: int, z_dim: int) -> np.ndarray:
    """(z_dim,) float64 standard normal, deterministic across platforms."""
    return np.random.default_rng(int(seed)).standard_normal(int(z_dim))


def z_from_file(path: str | Path, z_dim: int) -> np.ndarray:
    """A saved z vector (.npy of shape (z_dim,) or (1, z_dim))."""
    path = Path(path)
    try:
        z = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read the keyframe latent: {e}") from None
    z = np.asarray(z, dtype=np.float64)
    if z.ndim == 2 and z.shape[0] == 1:
        z = z[0]
    if z.shape != (z_dim,):
        raise UserError(f"{path}: expected a z vector of shape ({z_dim},) for this model, got {z.shape}")
    if not np.all(np.isfinite(z)):
        raise UserError(f"{path}: the keyframe latent contains NaN or infinity")
    return z


def keyframe_z(keyframe: Any, z_dim: int) -> np.ndarray:
    """A keyframe as the patch describes it (an object with `seed` or `file`), an int seed, or an
    array -> (z_dim,) float64."""
    if isinstance(keyframe, np.ndarray):
        z = np.asarray(keyframe, dtype=np.float64).reshape(-1)
        if z.shape != (z_dim,):
            raise UserError(f"keyframe latent has shape {keyframe.shape}, expected ({z_dim},)")
        return z
    if isinstance(keyframe, (int, np.integer)) and not isinstance(keyframe, bool):
        return z_from_seed(int(keyframe), z_dim)
    if isinstance(keyframe, dict):
        seed, file = keyframe.get("seed"), keyframe.get("file")
    else:
        seed, file = getattr(keyframe, "seed", None), getattr(keyframe, "file", None)
    if file is not None:
        return z_from_file(file, z_dim)
    if seed is not None:
        return z_from_seed(int(seed), z_dim)
    raise UserError(f"keyframe {keyframe!r} has neither a seed nor a file")


def random_directions(count: int, w_dim: int, seed: int) -> np.ndarray:
    """(count, w_dim) orthonormal rows drawn from `seed`: directions for any model.

    Gram-Schmidt by hand rather than a QR call, so the signs (and so the directions) do not
    depend on the LAPACK build.
    """
    count = min(int(count), int(w_dim))
    rng = np.random.default_rng([int(seed), 0x5D1])
    raw = rng.standard_normal((count, int(w_dim)))
    out = np.zeros_like(raw)
    for i in range(count):
        v = raw[i].copy()
        for j in range(i):
            v -= np.dot(v, out[j]) * out[j]
        n = np.linalg.norm(v)
        out[i] = v / n if n > 1e-12 else 0.0
    return out
