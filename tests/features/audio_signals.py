"""Synthetic test signals with known truth (tempo, onset times, pitches, spectra)."""

from __future__ import annotations

import numpy as np

SR = 44100


def _burst(kind: str, rng: np.random.Generator, sr: int = SR) -> np.ndarray:
    if kind == "click":
        n = int(0.02 * sr)
        return rng.standard_normal(n) * np.exp(-np.arange(n) / (0.003 * sr))
    if kind == "kick":   # a falling sine with a short attack
        n = int(0.25 * sr)
        t = np.arange(n) / sr
        freq = 50 + 100 * np.exp(-t / 0.03)
        return np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.08)
    if kind == "snare":  # noise plus a tone body
        n = int(0.18 * sr)
        t = np.arange(n) / sr
        return (0.7 * rng.standard_normal(n) + 0.5 * np.sin(2 * np.pi * 190 * t)) * np.exp(-t / 0.05)
    if kind == "hat":    # high-passed noise, very short
        n = int(0.06 * sr)
        noise = np.diff(rng.standard_normal(n + 1))
        return 0.5 * noise * np.exp(-np.arange(n) / (0.01 * sr))
    raise ValueError(kind)


def place(times, kinds, duration: float, gains=None, seed: int = 0, sr: int = SR) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros(int(duration * sr))
    gains = np.ones(len(times)) if gains is None else gains
    for t, kind, g in zip(times, kinds, gains):
        b = g * _burst(kind, rng, sr)
        tail = len(b) // 5
        b[len(b) - tail:] *= np.linspace(1, 0, tail) ** 2   # no click where a burst ends
        i = int(round(t * sr))
        m = min(len(b), len(x) - i)
        if m > 0:
            x[i:i + m] += b[:m]
    return x


def click_track(bpm: float, duration: float, start: float = 0.5, seed: int = 0,
                sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Clicks on every beat, a louder one on each downbeat; (samples, beat times)."""
    times = np.arange(start, duration - 0.05, 60.0 / bpm)
    gains = np.where(np.arange(len(times)) % 4 == 0, 0.6, 0.35)
    return place(times, ["click"] * len(times), duration, gains, seed, sr).astype(np.float32), times


def drum_pattern(duration: float, seed: int = 1, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Kicks, snares and hats at irregular times 120..400 ms apart; (samples, hit times)."""
    rng = np.random.default_rng(seed)
    times, t = [], 0.3
    while t < duration - 0.3:
        times.append(t)
        t += rng.uniform(0.12, 0.4)
    kinds = rng.choice(["kick", "snare", "hat"], len(times))
    gains = rng.uniform(0.3, 0.9, len(times))
    return place(times, kinds, duration, gains, seed, sr).astype(np.float32), np.array(times)


def tones(freqs, duration: float, amp: float = 0.2, sr: int = SR) -> np.ndarray:
    t = np.arange(int(duration * sr)) / sr
    return sum(amp * np.sin(2 * np.pi * f * t) for f in freqs).astype(np.float32)


def filtered_noise(lo: float, hi: float, duration: float, seed: int = 2, sr: int = SR) -> np.ndarray:
    """White noise with everything outside lo..hi Hz removed (FFT mask), unit-ish RMS 0.1."""
    rng = np.random.default_rng(seed)
    n = int(duration * sr)
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    x = np.fft.irfft(spec, n)
    return (0.1 * x / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def f_measure(detected, truth, tol: float = 0.05) -> float:
    """Onset F-measure: one-to-one greedy matching within ±tol seconds."""
    detected, truth = sorted(detected), list(truth)
    used = set()
    hits = 0
    for d in detected:
        best = None
        for j, t in enumerate(truth):
            if j not in used and abs(d - t) <= tol and (best is None or abs(d - t) < abs(d - truth[best])):
                best = j
        if best is not None:
            used.add(best)
            hits += 1
    if not detected or not truth:
        return 0.0
    p, r = hits / len(detected), hits / len(truth)
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def note_freq(midi: float) -> float:
    return 440.0 * 2 ** ((midi - 69) / 12)


def _backbeat_hits(bpm: float, duration: float, quiet=lambda t: False, hats_when_quiet: bool = True):
    """(times, kinds, gains) of backbeat(); where quiet(t), no kick or snare (and no hat unless
    hats_when_quiet)."""
    beat = 60.0 / bpm
    times, kinds, gains = [], [], []
    t, k = 0.2, 0
    while t < duration - 0.3:
        q = quiet(t)
        if k % 4 == 0 and not q:
            times.append(t), kinds.append("kick"), gains.append(0.9)
        if k % 4 == 2 and not q:
            times.append(t), kinds.append("snare"), gains.append(0.7)
        if hats_when_quiet or not q:
            times.append(t), kinds.append("hat"), gains.append(0.3)
        t += beat / 2
        k += 1
    return times, kinds, gains


def backbeat(bpm: float, duration: float, seed: int = 4, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Kick on 1 and 3, snare on 2 and 4, hats on every eighth; (samples, beat times)."""
    times, kinds, gains = _backbeat_hits(bpm, duration)
    x = place(times, kinds, duration, np.array(gains), seed, sr).astype(np.float32)
    return x, np.arange(0.2, duration - 0.3, 60.0 / bpm)


def backbeat_with_rest(bpm: float, duration: float, bars: int, from_bar: int = 6,
                       keep_s: float = 0.0) -> tuple[np.ndarray, float]:
    """backbeat() with `bars` bars from bar `from_bar` silent but for their first keep_s (0: a
    rest; 0.2: a stop, one hit on the first beat); (samples, when the groove comes back)."""
    x, _ = backbeat(bpm, duration)
    bar = 240.0 / bpm
    lo = 0.2 + from_bar * bar
    x[int((lo + keep_s) * SR):int((lo + bars * bar) * SR)] = 0.0
    return x, lo + bars * bar


def backbeat_with_fill(bpm: float, duration: float, fill_at: float, fill_s: float, seed: int = 9,
                       hats: bool = True, every: float = 0.75,
                       sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """backbeat(), but from fill_at for fill_s the kick and snare play together every `every`
    beats (0.75: dotted eighths, three against four, a grid at 4/3 of the tempo; 4/3: triplet
    eighths grouped in fours, a grid at 3/4 of it), the hats going on unless `hats` is false;
    (samples, beat times)."""
    times, kinds, gains = _backbeat_hits(bpm, duration, lambda t: fill_at <= t < fill_at + fill_s, hats)
    for t in np.arange(fill_at, fill_at + fill_s - 1e-6, every * 60.0 / bpm):
        times += [t, t]
        kinds += ["kick", "snare"]
        gains += [0.9, 0.6]
    order = np.argsort(times, kind="stable")
    x = place(np.array(times)[order], [kinds[i] for i in order], duration, np.array(gains)[order],
              seed, sr).astype(np.float32)
    return x, np.arange(0.2, duration - 0.3, 60.0 / bpm)


def sixteenths(bpm: float, duration: float, accent: float = 0.9, rest: float = 0.25,
               seed: int = 6, sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """Even sixteenth-note clicks, louder on each beat (an Alberti bass, a rag's right hand: three
    sixteenths line up as well as four, and only the accents mark the beat); (samples, beats)."""
    step = 60.0 / bpm / 4
    times = np.arange(0.3, duration - 0.3, step)
    gains = np.where(np.arange(len(times)) % 4 == 0, accent, rest)
    x = place(times, ["click"] * len(times), duration, gains, seed, sr).astype(np.float32)
    return x, times[::4]


def heavy_one_and_three(bpm: float, duration: float, seed: int = 7,
                        sr: int = SR) -> tuple[np.ndarray, np.ndarray]:
    """A hat on every beat and a kick on beats 1 and 3 only: a pulse, not a doubled one, whose
    low band is louder every other beat; (samples, beat times)."""
    beats = np.arange(0.3, duration - 0.3, 60.0 / bpm)
    times, kinds, gains = [], [], []
    for k, t in enumerate(beats):
        if k % 2 == 0:
            times.append(t), kinds.append("kick"), gains.append(0.9)
        times.append(t), kinds.append("hat"), gains.append(0.4)
    return place(times, kinds, duration, np.array(gains), seed, sr).astype(np.float32), beats
