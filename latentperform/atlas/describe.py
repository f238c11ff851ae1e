"""Picture descriptors with no weights to download: colour and texture statistics.

    describe_pictures(thumbs (N, S, S, 3) uint8) -> (N, 72) float32

Computed on the thumbnail in an opponent colour space (L = lightness, a = red-green,
b = yellow-blue), so distances follow what a person sees more than raw RGB does:

    6   mean and spread of L, a, b
    48  the layout: L, a, b averaged over a 4×4 grid
    8   texture energy: mean gradient magnitude at scales 1, 2, 4, 8 px, and the Laplacian's at the same
    8   orientation: gradient energy in 8 direction bins (stripes vs blobs)
    2   saturation mean and spread

Descriptors serve `find` (a picture's nearest atlas samples) and add a picture term to the
layout, so a map region looks alike as well as being near in W.  `NAMES` labels each column.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

GRID = 4
SCALES = (1, 2, 4, 8)
ORIENTATIONS = 8
NAMES = ([f"{s}_{c}" for s in ("mean", "std") for c in "Lab"]
         + [f"grid{i}_{c}" for i in range(GRID * GRID) for c in "Lab"]
         + [f"grad{s}" for s in SCALES] + [f"lap{s}" for s in SCALES]
         + [f"orient{k}" for k in range(ORIENTATIONS)] + ["sat_mean", "sat_std"])


def opponent(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) RGB in [0, 1] -> (N, 3, H, W) L, a, b (L in [0, 1], a, b about [-1, 1])."""
    r, g, b = rgb[:, 0], rgb[:, 1], rgb[:, 2]
    L = 0.299 * r + 0.587 * g + 0.114 * b
    a = r - g
    yb = 0.5 * (r + g) - b
    return torch.stack([L, a, yb], 1)


def _pool(x: torch.Tensor, s: int) -> torch.Tensor:
    """Average-pooled by s, but never below 4 px a side (the Laplacian needs 3)."""
    s = min(s, max(1, min(x.shape[-2:]) // 4))
    return F.avg_pool2d(x, s) if s > 1 else x


def describe_tensor(rgb: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) float RGB in [0, 1] -> (N, len(NAMES)); differentiable."""
    lab = opponent(rgb)
    n = lab.shape[0]
    feats = [lab.mean((2, 3)), lab.std((2, 3))]
    feats.append(F.adaptive_avg_pool2d(lab, GRID).permute(0, 2, 3, 1).reshape(n, -1))
    L = lab[:, :1]
    grads, laps = [], []
    gx_full = gy_full = None
    for s in SCALES:
        x = _pool(L, s)
        gx = x[..., :, 1:] - x[..., :, :-1]
        gy = x[..., 1:, :] - x[..., :-1, :]
        grads.append((gx.abs().mean((1, 2, 3)) + gy.abs().mean((1, 2, 3))) * s ** 0.5)
        lap = x[..., 1:-1, 1:-1] * 4 - x[..., 2:, 1:-1] - x[..., :-2, 1:-1] - x[..., 1:-1, 2:] - x[..., 1:-1, :-2]
        laps.append(lap.abs().mean((1, 2, 3)) * s ** 0.5)
        if s == 2:
            gx_full, gy_full = gx[..., :-1, :], gy[..., :, :-1]
    feats += [torch.stack(grads, 1), torch.stack(laps, 1)]
    mag = torch.sqrt(gx_full ** 2 + gy_full ** 2 + 1e-12)
    angle = torch.atan2(gy_full, gx_full) % np.pi  # orientation, not direction
    pos = angle / np.pi * ORIENTATIONS
    bins = []
    for k in range(ORIENTATIONS):  # soft (triangular) binning keeps it smooth in the picture
        d = torch.remainder(pos - k + ORIENTATIONS / 2, ORIENTATIONS) - ORIENTATIONS / 2
        bins.append((mag * (1 - d.abs()).clamp(min=0)).mean((1, 2, 3)))
    orient = torch.stack(bins, 1)
    feats.append(orient / (orient.sum(1, keepdim=True) + 1e-6))
    mx = rgb.max(1).values
    mn = rgb.min(1).values
    sat = (mx - mn) / (mx + 1e-3)
    feats.append(torch.stack([sat.mean((1, 2)), sat.std((1, 2))], 1))
    return torch.cat(feats, 1)


@torch.no_grad()
def describe_pictures(thumbs: np.ndarray, batch: int = 512) -> np.ndarray:
    """(N, S, S, 3) uint8 -> (N, len(NAMES)) float32."""
    from .layout import single_thread  # many small ops: one thread is faster on a loaded machine
    out = []
    with single_thread():
        for start in range(0, len(thumbs), batch):
            x = torch.from_numpy(np.ascontiguousarray(thumbs[start:start + batch])).permute(0, 3, 1, 2).float() / 255
            out.append(describe_tensor(x).numpy())
    return np.concatenate(out).astype(np.float32) if out else np.zeros((0, len(NAMES)), np.float32)


def standardise(desc: np.ndarray, mean: np.ndarray | None = None, std: np.ndarray | None = None):
    """(desc - mean) / std per column (mean, std from desc unless given); returns (z, mean, std)."""
    desc = np.asarray(desc, np.float64)
    mean = desc.mean(0) if mean is None else mean
    std = desc.std(0) if std is None else std
    std = np.where(std > 1e-9, std, 1.0)
    return ((desc - mean) / std).astype(np.float32), mean, std
