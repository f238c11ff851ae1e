"""ablate and swap: switch a cluster of feature maps off, or trade it for another cluster.

Clusters come from the channels' activation patterns (see clusters.py), so an ablated cluster is
one "thing" the network draws at that layer (a texture, an edge family, a colour field).
"""

from __future__ import annotations

import torch

from .base import BendOp, BendSetting, register


@register
class Ablate(BendOp):
    name = "ablate"
    doc = "fade the selected feature maps to their mean (1 = gone)"
    settings = (BendSetting("amount", 0.0, 0.0, 1.0, "0 = as drawn, 1 = removed"),)

    def bend(self, x, values, partner, rng):
        return torch.lerp(x, x.mean(dim=(-2, -1), keepdim=True).expand_as(x), values["amount"])


@register
class Swap(BendOp):
    name = "swap"
    doc = "blend the cluster's feature maps toward those of the partner cluster (`with`)"
    needs_partner = True
    settings = (BendSetting("amount", 0.0, 0.0, 1.0, "0 = own maps, 1 = the partner's"),)

    def bend(self, x, values, partner, rng):
        if partner is None:
            return x
        k = min(x.shape[1], partner.shape[1])
        out = x.clone()
        idx = torch.arange(x.shape[1], device=x.device) % k
        out = torch.lerp(out, partner[:, idx], values["amount"])
        return out
