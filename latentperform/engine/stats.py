"""Stats: the show's rolling figures (frame times, control-to-photon latency, generator rate,
"latent" batches, event rates), for the overlay, OSC feedback and benchmarks."""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np

from ..events import ControlEvent

# Event sources the engine makes itself (musical time): counted, but not a performer's input, so
# not "the last input" and not a control-to-photon sample.
INTERNAL_SOURCES = frozenset({"music"})
STALL_S = 0.1           # a frame presented this long after the previous one is a stall (the summary counts them)


def _pct(values, q) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


@dataclass
class Stats:
    """Rolling figures for the overlay, OSC feedback and benchmarks.

    frame_times   seconds between presented frames (from one present to the next)
    latencies     control-to-photon, seconds: for each new input, from the newest control event
                  that shaped a frame to that frame's presentation (once per input, not per frame;
                  the engine's own musical-time events are not inputs).
                  Measured through the generator, the longest path: a shader parameter shows a
                  generator time sooner.  Under crossfade, "presented" is the first display frame
                  the new picture is part of.
                  Under latent, it is the first in-between of the input's batch on screen.
    gen_ms        the newest frame's inference time; gen_periods: seconds between new generator
                  frames reaching the engine (the generator's real rate, latest wins; under
                  latent, between batches)
    batch         under latent: pictures in the newest batch (1: the generator keeps up);
                  batch_delays: seconds from a batch's arrival to its last picture (the request
                  itself) on screen: the delay interpolation adds to hold's; batch_dropped:
                  queued in-betweens dropped to keep that delay bounded
    event_rates   events per second per source over the last second; last_input (source,
                  address, value, time) of the newest event
    """

    frame_times: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))
    latencies: collections.deque = field(default_factory=lambda: collections.deque(maxlen=240))
    gen_ms: float = 0.0
    gen_periods: collections.deque = field(default_factory=lambda: collections.deque(maxlen=16))
    gen_frames: int = 0
    frames: int = 0
    advanced: int = 0  # ticks without a picture (a follower in step catching up: Tick.advance)
    stalls: int = 0  # frames presented more than STALL_S after the previous one (the whole show)
    batch: int = 0
    batch_delays: collections.deque = field(default_factory=lambda: collections.deque(maxlen=32))
    batch_dropped: int = 0
    errors: collections.deque = field(default_factory=lambda: collections.deque(maxlen=8))
    event_rates: dict = field(default_factory=dict)
    last_input: tuple | None = None
    _counts: dict = field(default_factory=dict)
    _count_since: float | None = None

    @property
    def fps(self) -> float:
        med = _pct(self.frame_times, 50)
        return 1.0 / med if med and med == med and med > 0 else 0.0

    @property
    def stutter(self) -> float:
        """Frame-time p99 / median: 1.0 is perfectly even pacing."""
        med = _pct(self.frame_times, 50)
        return _pct(self.frame_times, 99) / med if med and med == med and med > 0 else float("nan")

    @property
    def gen_period(self) -> float:
        """Median seconds between new generator frames (nan before two have arrived)."""
        return _pct(self.gen_periods, 50)

    @property
    def batch_delay(self) -> float:
        """Median seconds "latent" adds before a request's picture is on screen (nan before one)."""
        return _pct(self.batch_delays, 50)

    def count_events(self, events: Iterable[ControlEvent], now: float) -> None:
        for ev in events:
            self._counts[ev.source] = self._counts.get(ev.source, 0) + 1
            if ev.source not in INTERNAL_SOURCES:
                self.last_input = (ev.source, ev.address, ev.value, ev.time)
        if self._count_since is None:
            self._count_since = now
        elif now - self._count_since >= 1.0:
            span = now - self._count_since
            self.event_rates = {src: n / span for src, n in self._counts.items()}
            self._counts = {src: 0 for src in self._counts}  # a source that went quiet shows 0/s
            self._count_since = now

    def summary(self) -> dict:
        return {
            "frames": self.frames,
            "stalls": self.stalls,
            "fps": self.fps,
            "frame_ms_median": _pct(self.frame_times, 50) * 1e3,
            "frame_ms_p99": _pct(self.frame_times, 99) * 1e3,
            "stutter": self.stutter,
            "gen_ms": self.gen_ms,
            "gen_period_ms": self.gen_period * 1e3,
            "latency_ms_median": _pct(self.latencies, 50) * 1e3,
            "latency_ms_p99": _pct(self.latencies, 99) * 1e3,
            "latency_samples": len(self.latencies),
            "batch": self.batch,
            "batch_delay_ms": self.batch_delay * 1e3,
            "batch_dropped": self.batch_dropped,
        }
