"""rotate, translate, zoom, mirror: move the feature maps themselves.

Whatever the network draws from the bent layer on is drawn turned, shifted, scaled or mirrored,
while the layers before it (and the channels not selected) stay in place: the picture tears along
what the network had composed.  Quarter turns and mirrors are exact (pure index moves); other
angles resample bilinearly with border values repeated.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import BendOp, BendSetting, register


def affine(x: torch.Tensor, angle_deg: float = 0.0, shift=(0.0, 0.0), zoom: float = 1.0) -> torch.Tensor:
    """x (N, C, H, W) turned counter-clockwise by angle_deg, scaled by zoom about the centre and
    moved by shift (fractions of width, height; +x right, +y down)."""
    quarter = angle_deg / 90.0
    if zoom == 1.0 and shift == (0.0, 0.0) and abs(quarter - round(quarter)) < 1e-9:
        return torch.rot90(x, int(round(quarter)) % 4, dims=(-2, -1))  # exact (and H, W swap if odd)
    n, _, h, w = x.shape
    a = math.radians(angle_deg)
    cos, sin = math.cos(a) / zoom, math.sin(a) / zoom
    aspect = w / h
    # output pixel -> where it samples, in normalised coordinates (-1..1 across each axis)
    theta = torch.tensor([[cos, sin / aspect, -2.0 * shift[0]],
                          [-sin * aspect, cos, -2.0 * shift[1]]], dtype=torch.float32, device=x.device)
    grid = F.affine_grid(theta.expand(n, 2, 3), list(x.shape), align_corners=False)
    out = F.grid_sample(x.float(), grid, mode="bilinear", padding_mode="border", align_corners=False)
    return out.to(x.dtype)


@register
class Rotate(BendOp):
    name = "rotate"
    doc = "turn the feature maps counter-clockwise"
    settings = (BendSetting("angle", 0.0, -360.0, 360.0, "degrees, counter-clockwise"),)

    def bend(self, x, values, partner, rng):
        out = affine(x, angle_deg=values["angle"])
        if out.shape != x.shape:  # a quarter turn of a non-square map: resample instead
            out = affine(x, angle_deg=values["angle"] + 1e-7)
        return out


@register
class Translate(BendOp):
    name = "translate"
    doc = "shift the feature maps (edges repeat)"
    settings = (BendSetting("x", 0.0, -1.0, 1.0, "fraction of the width, + right"),
                BendSetting("y", 0.0, -1.0, 1.0, "fraction of the height, + down"))

    def bend(self, x, values, partner, rng):
        return affine(x, shift=(values["x"], values["y"]))


@register
class Zoom(BendOp):
    name = "zoom"
    doc = "scale the feature maps about their centre"
    settings = (BendSetting("factor", 1.0, 0.25, 4.0, "> 1 enlarges"),)

    def bend(self, x, values, partner, rng):
        return affine(x, zoom=values["factor"])


@register
class Mirror(BendOp):
    name = "mirror"
    doc = "mirror the feature maps left-right (amount blends toward the mirror image)"
    settings = (BendSetting("amount", 0.0, 0.0, 1.0, "0 = as drawn, 1 = mirrored"),)

    def bend(self, x, values, partner, rng):
        return torch.lerp(x, torch.flip(x, dims=(-1,)), values["amount"])
