"""shuffle: send the selected feature maps to each other's places (a fixed permutation).

`amount` blends from the maps as they are to the permuted ones.  The permutation is a derangement
drawn once from `seed`, so the same patch bends the same way on every machine.
"""

from __future__ import annotations

import torch

from .base import BendOp, BendSetting, register


def derangement(n: int, seed: int) -> torch.Tensor:
    """A permutation of range(n) that moves every element (n >= 2): a rotation of a random order."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    perm = torch.empty(n, dtype=torch.long)
    perm[order] = order.roll(1)
    return perm


@register
class Shuffle(BendOp):
    name = "shuffle"
    doc = "permute the feature maps among themselves"
    settings = (BendSetting("amount", 0.0, 0.0, 1.0, "0 = in place, 1 = fully permuted"),
                BendSetting("seed", 0.0, 0.0, 1000.0, "which permutation"))

    def is_neutral(self, values):
        return abs(float(values.get("amount", 0.0))) < 1e-6

    def bend(self, x, values, partner, rng):
        c = x.shape[1]
        if c < 2:
            return x
        perm = derangement(c, int(values["seed"])).to(x.device)
        return torch.lerp(x, x[:, perm], values["amount"])
