"""The user's folder of pictures as a training set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..config import UserError

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".gif", ".tif", ".tiff")
MIN_PICTURES = 8


def load_folder(folder: str | Path, resolution: int) -> tuple[torch.Tensor, list[str]]:
    """Every picture in `folder` (and its subfolders), centre-cropped square and resized:
    (N, 3, R, R) float in [-1, 1], and one line per file that could not be read."""
    from PIL import Image, UnidentifiedImageError

    root = Path(folder).expanduser()
    if not root.is_dir():
        raise UserError(f"{folder}: no such folder")
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file())
    pictures, skipped = [], []
    for path in files:
        try:
            with Image.open(path) as im:
                im = im.convert("RGB")
                w, h = im.size
                side = min(w, h)
                im = im.crop(((w - side) // 2, (h - side) // 2, (w + side) // 2, (h + side) // 2))
                im = im.resize((resolution, resolution), Image.Resampling.LANCZOS)
                pictures.append(np.asarray(im, dtype=np.uint8))
        except (OSError, UnidentifiedImageError, ValueError) as e:
            skipped.append(f"{path.name}: {e}")
    if len(pictures) < MIN_PICTURES:
        raise UserError(f"{folder}: {len(pictures)} readable pictures; training needs at least "
                        f"{MIN_PICTURES} (a few hundred give a useful network)")
    x = torch.from_numpy(np.stack(pictures)).permute(0, 3, 1, 2).float()
    return x / 127.5 - 1.0, skipped


def split(x: torch.Tensor, held_out: float = 0.1, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """(training, held-out) pictures; at least 4 held out, never more than a quarter."""
    n = len(x)
    k = min(max(4, int(round(n * held_out))), n // 4)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    return x[order[k:]], x[order[:k]]
