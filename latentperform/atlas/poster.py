"""The poster: the map as a picture.  Thumbnails placed on the layout (one per grid cell: the
sample nearest the cell's centre, so nothing overlaps), region borders, region names, and the
top semantic directions of W drawn as arrows from the map's centre.

    draw_poster(atlas, "my.png", size=1600, cell=48)
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ..config import UserError
from .atlasfile import Atlas
from .layout import single_thread

MARGIN = 40


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: one bitmap size
        return ImageFont.load_default()


def _nearest_grid(positions: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each (x, y) grid point: (nearest sample index, its distance); torch.cdist by blocks."""
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.as_tensor(np.stack([gx.ravel(), gy.ravel()], 1), dtype=torch.float32)
    ref = torch.as_tensor(positions, dtype=torch.float32)
    idx, dist = [], []
    with single_thread():
        for s in range(0, len(pts), 8192):
            d, i = torch.cdist(pts[s:s + 8192], ref).min(1)
            idx.append(i)
            dist.append(d)
    return torch.cat(idx).numpy().reshape(gx.shape), torch.cat(dist).numpy().astype(np.float64).reshape(gx.shape)


def render_poster(atlas: Atlas, size: int = 1600, cell: int = 48) -> Image.Image:
    pos = atlas.positions.astype(np.float64)
    span = size - 2 * MARGIN
    img = Image.new("RGB", (size, size + 60), (14, 14, 18))
    draw = ImageDraw.Draw(img)
    cells = span // cell
    centres = (np.arange(cells) + 0.5) / cells
    idx, dist = _nearest_grid(pos, centres, centres)
    thumbs = atlas.thumbnails
    for r in range(cells):
        for c in range(cells):
            if dist[r, c] > 0.75 / cells:
                continue  # empty part of the map
            tile = Image.fromarray(thumbs[idx[r, c]]).resize((cell, cell), Image.BILINEAR)
            img.paste(tile, (MARGIN + c * cell, MARGIN + r * cell))
    # region borders: label of the nearest sample on a fine grid; a border where it changes
    fine = span // 4
    fc = (np.arange(fine) + 0.5) / fine
    fidx, fdist = _nearest_grid(pos, fc, fc)
    lab = atlas.labels[fidx].astype(np.int32)
    lab[fdist > 1.5 / cells] = -1
    edge = np.zeros_like(lab, dtype=bool)  # between two regions only, not around the cloud
    edge[:, 1:] |= (lab[:, 1:] != lab[:, :-1]) & (lab[:, 1:] >= 0) & (lab[:, :-1] >= 0)
    edge[1:, :] |= (lab[1:, :] != lab[:-1, :]) & (lab[1:, :] >= 0) & (lab[:-1, :] >= 0)
    mask = Image.fromarray((edge * 255).astype(np.uint8)).resize((span, span), Image.NEAREST)
    img.paste(Image.new("RGB", (span, span), (255, 255, 255)), (MARGIN, MARGIN), mask)
    # semantic direction arrows from the centre
    font_small = _font(16)
    if atlas.directions is not None and len(atlas.directions):
        d = np.asarray(atlas.directions, np.float64)
        scale = 0.3 / max(np.abs(d).max(), 1e-9)
        cx = cy = MARGIN + span / 2
        for k, (dx, dy) in enumerate(d):
            ex, ey = cx + dx * scale * span, cy + dy * scale * span
            draw.line([(cx, cy), (ex, ey)], fill=(255, 220, 60), width=4)
            ang = np.arctan2(ey - cy, ex - cx)
            head = [(ex, ey), (ex - 16 * np.cos(ang - 0.45), ey - 16 * np.sin(ang - 0.45)),
                    (ex - 16 * np.cos(ang + 0.45), ey - 16 * np.sin(ang + 0.45))]
            draw.polygon(head, fill=(255, 220, 60))
            label = f"direction {k}"
            draw.text((ex + 6 * np.cos(ang), ey + 6 * np.sin(ang)), label, font=font_small, fill=(255, 220, 60),
                      stroke_width=3, stroke_fill=(0, 0, 0), anchor="lm" if np.cos(ang) >= 0 else "rm")
    # region names at their centres
    font = _font(22)
    for i, region in enumerate(atlas.regions):
        x = MARGIN + region.centre[0] * span
        y = MARGIN + region.centre[1] * span
        draw.text((x, y), f"{i} {region.name}", font=font, fill=(255, 255, 255), anchor="mm",
                  stroke_width=4, stroke_fill=(0, 0, 0))
    title = (f"{atlas.model['spec']}  ·  {len(atlas)} samples  ·  {len(atlas.regions)} regions  ·  "
             f"layout {atlas.settings.get('layout')}  ·  x, y = atlas/x, atlas/y")
    draw.text((MARGIN, size + 15), title, font=_font(20), fill=(220, 220, 220))
    return img


def draw_poster(atlas: Atlas, path: str | os.PathLike, size: int = 1600, cell: int = 48) -> Path:
    path = Path(path)
    try:
        render_poster(atlas, size, cell).save(path, format="PNG")
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return path
