"""Audio analysis speed: milliseconds of CPU per second of audio, and per hop (the live budget).

    python bench/features.py [--seconds 30] [--sample-rate 48000] [--block 256]

Feeds a synthetic mix (clicks, drums-like noise bursts, a chord) through AudioAnalyzer in blocks
of --block samples, as the sound card would, after a 2 s warm-up.  Prints one line per figure.
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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--sample-rate", type=int, default=48000)
    ap.add_argument("--block", type=int, default=256)
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


if __name__ == "__main__":
    main()
