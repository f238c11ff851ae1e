"""noise: add Gaussian noise to the feature maps, scaled to their spread.

The noise is drawn from the bender's generator, seeded per frame from the request's sequence
number, so an offline render draws the same noise every time.
"""

from __future__ import annotations

import torch

from .base import BendOp, BendSetting, register


@register
class Noise(BendOp):
    name = "noise"
    doc = "add noise, in units of each map's spread"
    settings = (BendSetting("amount", 0.0, 0.0, 4.0, "noise std / feature std"),)

    def bend(self, x, values, partner, rng):
        noise = torch.randn(x.shape, generator=rng, dtype=torch.float32).to(x.device, x.dtype)
        return x + noise * (values["amount"] * x.std(dim=(-2, -1), keepdim=True))
