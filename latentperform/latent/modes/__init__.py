"""Trajectory modes, registered by name: one file per mode, one line here.

A new mode: a file in this folder with a `TrajectoryMode` subclass (see base.py), one
`register_mode(...)` line below, and nothing else; tests/latent/test_modes.py runs the shared
contract (tests/latent/mode_contract.py) on every registered mode.
"""

from __future__ import annotations

from ...config import UserError
from .base import LatentPoint, ModeContext, TrajectoryMode
from .atlas import AtlasMode
from .keyframes import KeyframeLoop

MODES: dict[str, type[TrajectoryMode]] = {}


def register_mode(cls: type[TrajectoryMode]) -> type[TrajectoryMode]:
    if not cls.name or cls.name in MODES:
        raise ValueError(f"trajectory mode {cls.__name__}: a new, non-empty name is needed, got {cls.name!r}")
    MODES[cls.name] = cls
    return cls


def make_mode(name: str, ctx: ModeContext) -> TrajectoryMode:
    cls = MODES.get(name)
    if cls is None:
        raise UserError(f"unknown trajectory mode {name!r} (known: {', '.join(sorted(MODES))})")
    return cls(ctx)


register_mode(KeyframeLoop)
register_mode(AtlasMode)

__all__ = ["MODES", "AtlasMode", "KeyframeLoop", "LatentPoint", "ModeContext", "TrajectoryMode", "make_mode", "register_mode"]
