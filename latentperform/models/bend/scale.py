"""scale: multiply the selected feature maps and shift them (a cluster turned up, down or off)."""

from __future__ import annotations

from .base import BendOp, BendSetting, register


@register
class Scale(BendOp):
    name = "scale"
    doc = "multiply the feature maps by `gain` and add `offset` (in units of their spread)"
    settings = (
        BendSetting("gain", 1.0, -4.0, 4.0, "multiplier (1 = unchanged, 0 = off, < 0 inverts)"),
        BendSetting("offset", 0.0, -4.0, 4.0, "added, in standard deviations of the maps"),
    )

    def bend(self, x, values, partner, rng):
        out = x * values["gain"]
        if values["offset"]:
            out = out + values["offset"] * x.std(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
        return out
