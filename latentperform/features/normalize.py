"""Automatic gain: map a feature onto 0..1 with a range that adapts slowly to the music.

A quiet rehearsal and a loud club should both drive the picture fully, so levels are measured in
dB against a peak that jumps up at once and sinks slowly (a few dB a second).  Silence is not
amplified: the peak never sinks below an absolute floor, so a silent input reads 0.
"""

from __future__ import annotations

import math

import numpy as np


def power_db(power: float | np.ndarray) -> float | np.ndarray:
    """10 log10(power), with silence (and anything not finite) at -200 dB."""
    if isinstance(power, float):            # a Python or numpy float: the analyzer's scalars
        if 1e-20 <= power < math.inf:
            return np.float64(10.0 * math.log10(power))
        return np.float64(SILENT_DB)            # below the floor, NaN or infinite
    # NaN stays NaN through maximum and log10 (and +inf stays inf) without a warning
    db = 10.0 * np.log10(np.maximum(np.asarray(power, dtype=np.float64), 1e-20))
    if db.ndim == 0:
        return db[()] if np.isfinite(db) else np.float64(SILENT_DB)
    return np.where(np.isfinite(db), db, SILENT_DB)


SILENT_DB = -200.0


def unit(x: float) -> float:
    """x clipped to 0..1 (NaN stays NaN), as np.clip does, without its overhead on a scalar."""
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else float(x)


class DbRange:
    """A dB value -> 0..1 through a slowly adapting peak: (db - (peak - span)) / span.

    peak      jumps to any louder value at once, then sinks by `release_db_per_s`
    floor_db  the peak never sinks below this: inputs quieter than floor - span read 0
    """

    def __init__(self, frame_rate: float, span_db: float = 36.0, release_db_per_s: float = 1.5,
                 floor_db: float = -66.0) -> None:
        self.span = float(span_db)
        self.release = float(release_db_per_s) / float(frame_rate)
        self.floor = float(floor_db)
        self.peak = self.floor

    def update(self, db: float, peak_floor: float | None = None) -> float:
        floor = self.floor if peak_floor is None else max(self.floor, peak_floor)
        self.peak = max(db, self.peak - self.release, floor)
        return unit((db - (self.peak - self.span)) / self.span)


class PeakRange:
    """A non-negative value -> 0..1 by dividing by a peak that jumps up at once and decays slowly."""

    def __init__(self, frame_rate: float, half_life_s: float = 8.0, floor: float = 1e-6) -> None:
        self.decay = 0.5 ** (1.0 / (half_life_s * frame_rate))
        self.floor = float(floor)
        self.peak = self.floor

    def update(self, x: float) -> float:
        self.peak = max(x, self.peak * self.decay, self.floor)
        return unit(x / self.peak)


class MinMaxRange:
    """A value -> 0..1 between a slowly adapting minimum and maximum (at least `min_span` apart).

    Both ends follow a new extreme at once and relax toward the running value with a long time
    constant, so a feature that stays in a narrow band still uses the whole 0..1 after a while.
    """

    def __init__(self, frame_rate: float, min_span: float, relax_s: float = 20.0,
                 initial: tuple[float, float] | None = None) -> None:
        self.min_span = float(min_span)
        self.alpha = 1.0 / (relax_s * frame_rate)
        self.lo, self.hi = initial if initial is not None else (np.inf, -np.inf)

    def update(self, x: float) -> float:
        if not np.isfinite(self.lo):
            self.lo, self.hi = x - self.min_span / 2, x + self.min_span / 2
        self.lo = min(x, self.lo + (x - self.lo) * self.alpha)
        self.hi = max(x, self.hi + (x - self.hi) * self.alpha)
        span = max(self.hi - self.lo, self.min_span)
        mid = 0.5 * (self.hi + self.lo)
        return unit((x - (mid - span / 2)) / span)
