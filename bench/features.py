"""Audio analysis: CPU cost, feature latency, and the beat tracker's octave check.

    python bench/features.py [--seconds 30] [--sample-rate 48000] [--block 256] [--fps 60] [--octave]

Feeds a synthetic mix (clicks, drums-like noise bursts, a chord) through AudioAnalyzer in blocks
of --block samples, as the sound card would, after a 2 s warm-up.  Prints one line per figure:

- analysis speed: ms of CPU per second of audio, and per hop (the live budget);
- feature latency: from the sound of each click to its onset event being ready, i.e. waiting for
  the block that holds the click to be complete, plus the analysis frame that first sees it, plus
  the CPU time of that process() call; then the engine picks the event up at its next tick (up to
  one tick later: 1 / --fps);
- with --octave: the tempo the tracker reports for kick/snare/hat backbeats at 60-90 bpm and
  clicks at 120-174 bpm, and the accent ratio that decides between a tempo and its double
  (beat.py: above ACCENT_RATIO the doubled pulse is halved).
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from latentperform.features import AudioAnalyzer


def _signal(seconds: float, sr: int) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.05 * sum(np.sin(2 * np.pi * f * t) for f in (261.6, 329.6, 392.0))
    for start in np.arange(0.2, seconds - 0.1, 0.5):
        i = int(start * sr)
        n = int(0.03 * sr)
        x[i:i + n] += 0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.005 * sr))
    return x.astype(np.float32)


def _latency(sr: int, block: int, fps: float) -> None:
    """Click -> onset event: block wait + analysis, measured on a click track fed block by block."""
    rng = np.random.default_rng(1)
    period, first = int(0.5 * sr), int(2.0 * sr)
    x = (0.02 * rng.standard_normal(int(20 * sr))).astype(np.float32)   # a little noise floor
    n = int(0.02 * sr)
    click = (0.5 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.003 * sr))).astype(np.float32)
    clicks = np.arange(first, len(x) - period, period)
    for c in clicks:
        x[c:c + n] += click
    analyzer = AudioAnalyzer(sr)
    found: dict[int, float] = {}
    for start in range(0, len(x), block):
        a = time.perf_counter()
        frames = analyzer.process(x[start:start + block])
        cpu = time.perf_counter() - a
        end = start + block                       # the block is complete when its last sample is
        for f in frames:
            if not f.onset_event:
                continue
            pending = clicks[(clicks < end) & (clicks > end - sr // 4)]
            if len(pending):
                c = int(pending.max())
                found.setdefault(c, (end - c) / sr + cpu)
    lat = np.array(sorted(found.values()))
    tick = 1.0 / fps
    print(f"feature latency (click -> onset event ready), {len(lat)}/{len(clicks)} clicks: "
          f"median {1000 * np.median(lat):.1f} ms, max {1000 * lat.max():.1f} ms "
          f"(one block = {1000 * block / sr:.1f} ms, hop = {1000 * analyzer.hop / sr:.1f} ms)")
    print(f"  + the engine's next tick (<= {1000 * tick:.1f} ms at {fps:g} fps): "
          f"median {1000 * (np.median(lat) + tick / 2):.1f} ms, worst {1000 * (lat.max() + tick):.1f} ms "
          f"(budget: one block + one tick = {1000 * (block / sr + tick):.1f} ms, plus the analysis window)")


def _burst(kind: str, rng, sr: int) -> np.ndarray:
    t = np.arange(int({"kick": 0.25, "snare": 0.18, "hat": 0.06, "click": 0.02}[kind] * sr)) / sr
    if kind == "kick":
        return np.sin(2 * np.pi * np.cumsum(50 + 100 * np.exp(-t / 0.03)) / sr) * np.exp(-t / 0.08)
    if kind == "snare":
        return (0.7 * rng.standard_normal(len(t)) + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.05)
    if kind == "hat":
        return 0.5 * np.diff(rng.standard_normal(len(t) + 1)) * np.exp(-t / 0.01)
    return rng.standard_normal(len(t)) * np.exp(-t / 0.003)


def _pattern(bpm: float, seconds: float, sr: int, backbeat: bool) -> np.ndarray:
    """backbeat: kick on 1 and 3, snare on 2 and 4, hats on every eighth; else a click per beat."""
    rng = np.random.default_rng(4)
    x = np.zeros(int(seconds * sr))
    step = 60.0 / bpm / (2 if backbeat else 1)
    for k, t in enumerate(np.arange(0.2, seconds - 0.3, step)):
        hits = [("hat", 0.3)] + ([("kick", 0.9)] if k % 4 == 0 else [("snare", 0.7)] if k % 4 == 2 else []) \
            if backbeat else [("click", 0.6 if k % 4 == 0 else 0.35)]
        for kind, gain in hits:
            b = gain * _burst(kind, rng, sr)
            i = int(t * sr)
            m = min(len(b), len(x) - i)
            x[i:i + m] += b[:m]
    return x.astype(np.float32)


def _octave(sr: int) -> None:
    from latentperform.features.beat import ACCENT_RATIO, BeatTracker

    ratios: list[float] = []
    measure = BeatTracker._accent_ratio

    def spy(self, env, period):
        r = measure(self, env, period)
        if self.count > 5 * self.frame_rate:
            ratios.append(r)
        return r

    BeatTracker._accent_ratio = spy
    try:
        print(f"octave check (halve when the accent ratio > {ACCENT_RATIO}; ratios after 5 s, min/median/max):")
        for backbeat, tempos in ((True, (60, 65, 70, 75, 80, 85, 90, 100, 128, 174)),
                                 (False, (60, 90, 120, 140, 160, 174))):
            for bpm in tempos:
                ratios.clear()
                analyzer = AudioAnalyzer(sr)
                x = _pattern(bpm, 14.0, sr, backbeat)
                for i in range(0, len(x), 4096):
                    analyzer.process(x[i:i + 4096])
                r = np.array(ratios) if ratios else np.array([float("nan")])
                print(f"  {'backbeat' if backbeat else 'clicks  '} {bpm:5.1f} bpm -> tracker "
                      f"{analyzer.beat_tracker.bpm:6.1f} bpm; accent ratio {r.min():.2f} / {np.median(r):.2f} / {r.max():.2f}")
    finally:
        BeatTracker._accent_ratio = measure


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sample-rate", type=int, default=48000)
    ap.add_argument("--block", type=int, default=256)
    ap.add_argument("--fps", type=float, default=60.0, help="engine ticks per second (for the latency figure)")
    ap.add_argument("--octave", action="store_true", help="also print the beat tracker's octave check")
    args = ap.parse_args()
    sr = args.sample_rate
    x = _signal(args.seconds, sr)
    analyzer = AudioAnalyzer(sr)
    warm = 2 * sr
    for i in range(0, warm, args.block):
        analyzer.process(x[i:i + args.block])
    per_hop = []
    t0 = time.perf_counter()
    for i in range(warm, len(x), args.block):
        a = time.perf_counter()
        frames = analyzer.process(x[i:i + args.block])
        if frames:
            per_hop.append((time.perf_counter() - a) / len(frames))
    total = time.perf_counter() - t0
    audio_s = (len(x) - warm) / sr
    print(f"sample rate {sr} Hz, hop {analyzer.hop}, n_fft {analyzer.n_fft}, block {args.block}")
    print(f"analysis: {1000 * total / audio_s:.1f} ms per second of audio "
          f"({audio_s / total:.0f}x real time)")
    print(f"per hop: median {1000 * statistics.median(per_hop):.3f} ms, "
          f"max {1000 * max(per_hop):.3f} ms (hop = {1000 * analyzer.hop / sr:.2f} ms of audio)")
    _latency(sr, args.block, args.fps)
    if args.octave:
        _octave(sr)


if __name__ == "__main__":
    main()
