"""Clocks and musical time.

The engine never reads the wall clock itself: it asks the clock it was given.  Live shows use
`WallClock`; offline renders use `FixedStepClock`, whose time is frame / fps, so a render is
repeatable frame for frame.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol


class Clock(Protocol):
    def now(self) -> float:
        """Seconds since the clock started."""

    def tick(self) -> float:
        """Advance to the next engine tick (a no-op for real time) and return `now()`."""


class WallClock:
    """Real time, monotonic, starting at 0 when created."""

    def __init__(self) -> None:
        self._t0 = time.perf_counter()

    def now(self) -> float:
        return time.perf_counter() - self._t0

    def tick(self) -> float:
        return self.now()

    def to_clock_time(self, perf_counter_value: float) -> float:
        """Convert a `time.perf_counter()` reading taken by an input thread to clock time."""
        return perf_counter_value - self._t0


class FixedStepClock:
    """Offline time: tick k is at k / fps seconds, whatever the wall clock says."""

    def __init__(self, fps: float, start_frame: int = 0) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = float(fps)
        self.frame = start_frame - 1  # the first tick() lands on start_frame

    def now(self) -> float:
        return max(self.frame, 0) / self.fps

    def tick(self) -> float:
        self.frame += 1
        return self.frame / self.fps


@dataclass
class Tempo:
    """A tempo and a beat grid: beat(t) = beat_at_origin + (t - origin) * bpm / 60.

    Changing the tempo keeps the current beat position continuous (no jump in phase).
    """

    bpm: float = 120.0
    origin: float = 0.0
    beat_at_origin: float = 0.0
    min_bpm: float = 20.0
    max_bpm: float = 400.0

    def beat(self, t: float) -> float:
        return self.beat_at_origin + (t - self.origin) * self.bpm / 60.0

    def set_bpm(self, bpm: float, t: float) -> None:
        bpm = min(max(float(bpm), self.min_bpm), self.max_bpm)
        self.beat_at_origin = self.beat(t)
        self.origin = t
        self.bpm = bpm

    def align(self, t: float, beat: float, bpm: float | None = None) -> None:
        """Say that `beat` happens at time t (from a beat tracker, MIDI clock or Link)."""
        if bpm is not None:
            self.bpm = min(max(float(bpm), self.min_bpm), self.max_bpm)
        self.origin = t
        self.beat_at_origin = beat


class TapTempo:
    """Tap tempo; a pause longer than `reset_after` s starts over.

    Two or three taps give the median interval; from four taps on, taps that agree with it
    (within 25 %) are fitted by a straight line (least squares over their times), which averages
    a hand's 10-20 ms of jitter over the whole run instead of trusting one interval.  The reading
    is rounded to `resolution` bpm (1 by default: a tapped 127.6 or 128.4 is the track's 128;
    human taps are not more precise than that).  A tap far off the others (a missed or doubled
    tap) starts the run over from it.

    Each tap that completes a reading also puts the downbeat on the tap.
    """

    def __init__(self, max_taps: int = 16, reset_after: float = 2.0, resolution: float = 1.0) -> None:
        self.max_taps = max_taps
        self.reset_after = reset_after
        self.resolution = float(resolution)
        self.taps: list[float] = []

    def tap(self, t: float) -> float | None:
        """Register a tap at time t; returns the new bpm once two or more taps are in."""
        if self.taps and t - self.taps[-1] > self.reset_after:
            self.taps.clear()
        if len(self.taps) >= 3:
            intervals = sorted(b - a for a, b in zip(self.taps, self.taps[1:]))
            median = intervals[len(intervals) // 2]
            if not 0.75 * median <= t - self.taps[-1] <= 1.25 * median:
                self.taps = [self.taps[-1]]      # off the beat the others keep: a new run
        self.taps.append(t)
        self.taps = self.taps[-self.max_taps:]
        if len(self.taps) < 2:
            return None
        intervals = sorted(b - a for a, b in zip(self.taps, self.taps[1:]))
        interval = intervals[len(intervals) // 2]
        n = len(self.taps)
        if n >= 4:
            mean_i = (n - 1) / 2.0
            mean_t = sum(self.taps) / n
            interval = (sum((i - mean_i) * (x - mean_t) for i, x in enumerate(self.taps))
                        / sum((i - mean_i) ** 2 for i in range(n)))
        if interval <= 0:
            return None
        bpm = 60.0 / interval
        if self.resolution > 0:
            bpm = round(bpm / self.resolution) * self.resolution
        return bpm
