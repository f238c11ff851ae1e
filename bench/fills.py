"""Drum fills against the beat tracker's regrouping (features/beat.py): how long a fill of dotted
eighths moves the tempo read off a 120 bpm groove.

    python bench/fills.py [--bpm 120] [--beats comb]

Three against four (kick and snare together on every dotted eighth) is a grid at 4/3 of the
tempo, the ratio the tracker regroups to when a piece of even sixteenths slows from 126 to 96.  A
fill should move the tempo for as short a time as can be: not at all for a bar, and back soon
after a longer one.  Prints, per fill length, with the hats going on under the fill and with the
groove muted: the seconds after 8 s read more than 4 % off the groove's tempo, and when.  Run it
on two trees (or two checkouts of features/beat.py) to compare them.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from latentperform.features import analyze_frames  # noqa: E402
from tests.features.audio_signals import SR, backbeat_with_fill  # noqa: E402

FILL_AT = 12.2
DURATION = 26.0


def seconds_off(bpm: float, fill_s: float, hats: bool, beats: str) -> tuple[float, float, float]:
    """(seconds read off the tempo after 8 s, first and last such time; 0, nan, nan if none)."""
    x, _ = backbeat_with_fill(bpm, DURATION, FILL_AT, fill_s, hats=hats)
    frames = analyze_frames(x, SR, beats=beats)
    t = np.array([f.time for f in frames])
    tempo = np.array([f.tempo for f in frames])
    off = (np.abs(tempo - bpm) > 0.04 * bpm) & (t >= 8.0)
    if not off.any():
        return 0.0, float("nan"), float("nan")
    return float(off.sum() * (t[1] - t[0])), float(t[off].min()), float(t[off].max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bpm", type=float, default=120.0)
    ap.add_argument("--beats", default="comb", choices=("comb", "net", "choice"))
    args = ap.parse_args()
    print(f"{args.bpm:g} bpm groove, fill of dotted eighths from {FILL_AT} s, tracker {args.beats!r}")
    print("| fill | under it | s off tempo after 8 s | from - to | ends after the fill |")
    print("|---|---|---|---|---|")
    for fill_s in (2.0, 3.0, 4.5):
        for hats in (True, False):
            s, lo, hi = seconds_off(args.bpm, fill_s, hats, args.beats)
            span = f"{lo:.1f} - {hi:.1f}" if s else "-"
            after = f"{hi - (FILL_AT + fill_s):+.1f} s" if s else "-"
            print(f"| {fill_s:.1f} s | {'hats' if hats else 'nothing'} | {s:.1f} | {span} | {after} |")


if __name__ == "__main__":
    main()
