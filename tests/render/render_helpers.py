"""Small helpers shared by the render tests."""

from __future__ import annotations

import numpy as np

from latentperform.events import ParamState


def params(**values) -> ParamState:
    """ParamState from keyword names with '__' for '/': params(shader__grade__exposure=1)."""
    return ParamState(values={k.replace("__", "/"): float(v) for k, v in values.items()})


def pattern(w: int, h: int, seed: int = 0) -> np.ndarray:
    """A frame whose every pixel differs from its neighbours: catches flips, shifts and swaps."""
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
