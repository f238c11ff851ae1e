"""What a bend op is: a function on one layer's feature maps, with named, mappable settings.

    op.apply(x (N, C, H, W), values {setting: float}, channels (k,) long | None, rng) -> (N, C, H, W)

Every op has a neutral setting where it is the identity (`is_neutral`): a bend that sits at
neutral costs nothing, because the bender then takes its hook off the network.  `channels`
selects the feature maps an op works on (a cluster of channels, or all of them when None).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

NEUTRAL_EPS = 1e-6


@dataclass(frozen=True)
class BendSetting:
    """One mappable number of an op: its neutral value (the op is then the identity) and range."""

    name: str
    neutral: float
    min: float
    max: float
    doc: str


class BendOp:
    """Base class of the ops; a subclass sets `name`, `settings` and implements `bend`."""

    name: ClassVar[str] = ""
    settings: ClassVar[tuple[BendSetting, ...]] = ()
    doc: ClassVar[str] = ""
    needs_partner: ClassVar[bool] = False   # works between two channel clusters (swap)

    def defaults(self) -> dict[str, float]:
        return {s.name: s.neutral for s in self.settings}

    def clamp(self, values: dict[str, float]) -> dict[str, float]:
        """Every setting present, finite and inside its range (a NaN counts as neutral)."""
        out = {}
        for s in self.settings:
            v = float(values.get(s.name, s.neutral))
            out[s.name] = s.neutral if v != v else min(max(v, s.min), s.max)
        return out

    def is_neutral(self, values: dict[str, float]) -> bool:
        return all(abs(float(values.get(s.name, s.neutral)) - s.neutral) < NEUTRAL_EPS for s in self.settings)

    def apply(self, x: torch.Tensor, values: dict[str, float], channels: torch.Tensor | None,
              partner: torch.Tensor | None = None, rng: torch.Generator | None = None) -> torch.Tensor:
        """x bent on `channels` (all when None); returns a new tensor, x is not changed."""
        values = self.clamp(values)
        if self.is_neutral(values):
            return x
        if channels is None:
            return self.bend(x, values, partner, rng)
        out = x.clone()
        out[:, channels] = self.bend(x[:, channels], values, None if partner is None else x[:, partner], rng)
        return out

    def bend(self, x: torch.Tensor, values: dict[str, float], partner: torch.Tensor | None,
             rng: torch.Generator | None) -> torch.Tensor:
        raise NotImplementedError


OPS: dict[str, type[BendOp]] = {}


def register(cls: type[BendOp]) -> type[BendOp]:
    """Class decorator: the op is known by `cls.name` in patches and `inspect --layers`."""
    if not cls.name or cls.name in OPS:
        raise ValueError(f"bend op name {cls.name!r} is empty or taken")
    OPS[cls.name] = cls
    return cls
