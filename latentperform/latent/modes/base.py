"""The trajectory-mode protocol: where the picture's base point comes from, tick by tick.

A mode is one class in one file, registered by name in `modes/__init__.py` (`register_mode`);
the patch picks it with `[trajectory] mode = "<name>"` (default "keyframes").  Every tick the
Trajectory asks its mode for the base point, then moves it on (chroma and XY pulls, walk,
directions, pulses, style mix, truncation, rotate/translate: the layers every mode shares).

    class MyMode(TrajectoryMode):
        name = "mine"
        def __init__(self, ctx: ModeContext): ...         # the patch's settings and the data
        def param_specs(self) -> list[ParamSpec]: ...     # its parameters (registry group "trajectory")
        def base(self, params, dt) -> LatentPoint: ...    # this tick's point: z, or ws directly
        def current_keyframe(self) -> int: ...            # for the overlay, LEDs and OSC (0 if none)
        def carry_from(self, old) -> None: ...            # a reloaded patch keeps its place
        def status_lines(self) -> list[str]: ...          # overlay lines (optional)
        def overlay_picture(self) -> np.ndarray | None: ...  # a picture under them (optional)

Data a mode needs beyond the patch (an atlas's arrays, say) arrives in `ctx.data`, a dict the
show fills (`Trajectory(..., data={...})`); a mode says what it needs by the keys it reads and
raises UserError, with what is missing, when a key is absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ...events import ParamSpec, ParamState


@dataclass(frozen=True)
class LatentPoint:
    """A mode's point for one tick: z (z_dim,) float64, or ws (num_ws, w_dim) given directly in W
    (then z is what the z layers move, and ws replaces mapping(z) in the request)."""

    z: np.ndarray
    ws: np.ndarray | None = None


@dataclass(frozen=True)
class ModeContext:
    """What a mode is built from.

    setting      name -> the [trajectory] value, defaults filled in (latent/trajectory.py DEFAULTS)
    keyframes    (N, z_dim) float64, the patch's keyframes as z
    step_beats   (N,) beats each keyframe step lasts at latent/speed 1
    space        LatentSpace (z_dim, w_dim, num_ws); seed: the patch's model seed
    data         extra arrays by name (filled by the show; empty unless a mode asked)
    """

    setting: Callable[[str], Any]
    keyframes: np.ndarray
    step_beats: np.ndarray
    space: Any
    seed: int = 0
    data: dict = field(default_factory=dict)


class TrajectoryMode:
    """Base class of the modes (see the module docstring); `name` is the registered name."""

    name: str = ""

    def __init__(self, ctx: ModeContext) -> None:
        self.ctx = ctx

    def param_specs(self) -> list[ParamSpec]:
        return []

    def base(self, params: ParamState, dt: float) -> LatentPoint:
        raise NotImplementedError

    def current_keyframe(self) -> int:
        return 0

    def status_lines(self) -> list[str]:
        """Lines for the overlay (the atlas mode's place); none by default."""
        return []

    def overlay_picture(self) -> np.ndarray | None:
        """A small (h, w, 4) uint8 RGBA picture the overlay draws beside its text (the atlas
        mode's minimap), top row first; None by default."""
        return None

    def carry_from(self, old: "TrajectoryMode") -> None:
        """Take over what can be taken from the mode this one replaces (same class or not)."""
