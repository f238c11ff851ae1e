"""erode and dilate: grey-scale morphology on the feature maps (a square window of `radius`).

Dilate spreads every bright feature (a max filter), erode thins it (a min filter); fractional
radii blend between the two nearest whole windows, so a fader moves them smoothly.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .base import BendOp, BendSetting, register


def max_filter(x: torch.Tensor, radius: int) -> torch.Tensor:
    if radius <= 0:
        return x
    return F.max_pool2d(x, kernel_size=2 * radius + 1, stride=1, padding=radius)


def _morph(x: torch.Tensor, radius: float, sign: float) -> torch.Tensor:
    lo = int(math.floor(radius))
    frac = radius - lo
    a = sign * max_filter(sign * x, lo)
    if frac < 1e-9:
        return a
    return torch.lerp(a, sign * max_filter(sign * x, lo + 1), frac)


@register
class Dilate(BendOp):
    name = "dilate"
    doc = "grow the bright parts of the feature maps (max filter)"
    settings = (BendSetting("radius", 0.0, 0.0, 6.0, "window half-size in feature-map pixels"),)

    def bend(self, x, values, partner, rng):
        return _morph(x, values["radius"], 1.0)


@register
class Erode(BendOp):
    name = "erode"
    doc = "thin the bright parts of the feature maps (min filter)"
    settings = (BendSetting("radius", 0.0, 0.0, 6.0, "window half-size in feature-map pixels"),)

    def bend(self, x, values, partner, rng):
        return _morph(x, values["radius"], -1.0)
