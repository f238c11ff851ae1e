"""Tap tempo (clock.TapTempo): a hand's jitter averaged out, readings rounded to a whole bpm."""

from __future__ import annotations

import random

import pytest

from latentperform.clock import TapTempo


def taps(bpm: float, n: int, jitter: float, seed: int = 0, start: float = 10.0) -> list[float]:
    rng = random.Random(seed)
    return [start + k * 60.0 / bpm + rng.uniform(-jitter, jitter) for k in range(n)]


@pytest.mark.parametrize("bpm", [87.0, 120.0, 128.0, 174.0])
def test_human_taps_read_the_whole_bpm(bpm):
    for seed in range(10):
        tap = TapTempo()
        readings = [tap.tap(t) for t in taps(bpm, 12, jitter=0.012, seed=seed)]
        assert readings[0] is None
        assert all(r == round(r) for r in readings[1:])       # rounded, never 127.63
        assert abs(readings[7] - bpm) <= 1.0, (seed, readings)  # eight taps with +-12 ms: +-1
        assert readings[-1] == bpm, (seed, readings)          # twelve: the track's own tempo


def test_two_taps_give_a_reading_and_a_pause_starts_over():
    tap = TapTempo()
    assert tap.tap(0.0) is None
    assert tap.tap(0.5) == 120.0
    assert tap.tap(5.0) is None                  # > 2 s later: a new run
    assert tap.tap(5.4) == 150.0


def test_a_tap_off_the_beat_starts_a_new_run_instead_of_bending_the_tempo():
    tap = TapTempo()
    for t in (0.0, 0.5, 1.0, 1.5):
        tap.tap(t)
    assert tap.tap(1.6) == 600.0        # a doubled tap: a new run from the last tap, not a bent 100
    assert tap.taps == [1.5, 1.6]


def test_resolution_can_be_finer():
    tap = TapTempo(resolution=0.1)
    for t in taps(128.3, 8, jitter=0.0):
        bpm = tap.tap(t)
    assert bpm == pytest.approx(128.3)
