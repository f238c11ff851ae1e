"""Fills, rests and stops against the beat tracker's regrouping (features/beat.py): how long each
moves the tempo read off a groove, this tree beside another revision, in one run.

    python bench/fills.py [--against faec8df] [--beats comb]

The regrouping takes a tempo 3/4 or 4/3 of the one held when the last 3 s of accents say the
music moved there (a piece of even sixteenths slowing from 126 to 96).  A drum figure of three
against four says the same while it lasts: dotted eighths (a grid at 4/3 of the tempo), triplet
eighths grouped in fours (3/4).  A bar or two of rest, or of a single hit, leaves a few hits
that line up with any grid.  Each should move the tempo for as short a time as can be.  Prints,
per case, the seconds after 6 s read more than 4 % off the groove's tempo, and how long after
the fill or rest ends the last of them falls.  `--against` is the revision before the
regrouping by default.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from bench.beats import _load_features_at, _run_analyzer  # noqa: E402
from latentperform.features import analyzer as this_analyzer  # noqa: E402
from tests.features.audio_signals import SR, backbeat_with_fill, backbeat_with_rest  # noqa: E402

FILL_AT = 12.2
DURATION = 26.0


def cases():
    """(label, tempo, samples, when the fill or rest ends)."""
    for fill_s in (2.0, 3.0, 4.5):
        for hats in (True, False):
            x, _ = backbeat_with_fill(120, DURATION, FILL_AT, fill_s, hats=hats)
            yield (f"120, dotted eighths {fill_s:g} s, {'hats on' if hats else 'alone'}", 120.0, x,
                   FILL_AT + fill_s)
    for bpm in (90, 120):
        bar = 240.0 / bpm
        x, _ = backbeat_with_fill(bpm, DURATION, FILL_AT, bar, every=4.0 / 3.0)
        yield f"{bpm}, triplets in fours, 1 bar, hats on", float(bpm), x, FILL_AT + bar
    for bpm, bars in ((92, 2), (108, 1)):
        x, end = backbeat_with_rest(bpm, DURATION, bars)
        yield f"{bpm}, {bars} bar{'s' if bars > 1 else ''} of rest", float(bpm), x, end
    x, end = backbeat_with_rest(100, DURATION, 2, keep_s=0.2)
    yield "100, a stop: 2 bars of one hit", 100.0, x, end


def seconds_off(module, x, bpm: float, end: float, beats: str) -> str:
    got = _run_analyzer(module, x, SR, beats=beats)
    t, tempo = got["tempo_t"], got["tempo"]
    off = (np.abs(tempo - bpm) > 0.04 * bpm) & (t >= 6.0)
    if not off.any():
        return "0"
    return f"{off.sum() * (t[1] - t[0]):.1f} s, to {t[off].max() - end:+.1f} s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", default="faec8df", help="git revision to compare with")
    ap.add_argument("--beats", default="comb", choices=("comb", "choice"))
    args = ap.parse_args()
    other = _load_features_at(args.against)
    print(f"tracker {args.beats!r}; seconds more than 4 % off the tempo after 6 s, and when the last"
          " of them falls after the fill or rest ends")
    print(f"| case | this tree | {args.against} |")
    print("|---|---|---|")
    for label, bpm, x, end in cases():
        mine = seconds_off(this_analyzer, x, bpm, end, args.beats)
        theirs = seconds_off(other, x, bpm, end, args.beats)
        print(f"| {label} | {mine} | {theirs} |", flush=True)


if __name__ == "__main__":
    main()
