"""A realtime beat tracker fed one onset-strength value per analysis frame.

Tempo: every half second, the autocorrelation of the last ~8 s of onset strength is scored as a
comb (lags L, 2L, 3L, 4L of each candidate period L, read between frames by interpolation) under a
log-normal preference around 120 bpm; a new tempo is adopted after it wins twice in a row.
Phase: the beat grid of that period that collects the most onset strength over the last few
seconds; a free-running oscillator follows it with a gentle phase correction, and a beat is the
moment the oscillator wraps.  All in frames of the analyzer, so timing is exact offline.

The octave: a slow backbeat (60-90 bpm, kick/snare on the beats, hats on every eighth) has as
much periodicity at the eighth-note pulse as at the beat, and the prior around 120 bpm favours
the double tempo.  So when the winner is fast enough to be a doubled pulse, the grid of half that
tempo is checked for accents in the low-frequency onset strength (below ACCENT_MAX_HZ: kick,
snare body, bass; hats hardly reach it): if it is more than ACCENT_RATIO times stronger on the
grid's beats than half way between them, the beats are the accented ones and the tempo is halved.
Steady clicks and fast backbeats (kick and snare alternate on the half-tempo grid) keep their
tempo; bench/features.py --octave prints the ratios measured on both kinds.
"""

from __future__ import annotations

import numpy as np

ACCENT_RATIO = 1.45   # on-beat / off-beat onset strength above which a doubled pulse is halved


class BeatTracker:
    def __init__(self, frame_rate: float, window_s: float = 8.0, min_bpm: float = 60.0,
                 max_bpm: float = 200.0, prior_bpm: float = 120.0, update_s: float = 0.5,
                 start_after_s: float = 2.5) -> None:
        self.frame_rate = float(frame_rate)
        self.size = int(round(window_s * frame_rate))
        self.env = np.zeros(self.size)
        self.accents = np.zeros(self.size)    # low-frequency onset strength (see _accent_ratio)
        self.count = 0                       # frames seen
        self.update_every = max(1, int(round(update_s * frame_rate)))
        self.start_after = int(round(start_after_s * frame_rate))
        self.bpm_grid = np.arange(min_bpm, max_bpm + 1e-9, 0.1)
        self.prior = np.exp(-0.5 * np.log2(self.bpm_grid / prior_bpm) ** 2)
        self.bpm = float(prior_bpm)
        self.locked = False
        self._position = 0.0                 # beats elapsed (unwrapped oscillator)
        self._last_beat_index = 0
        self._pending_bpm: float | None = None
        self._since_beat = 0.0               # frames since the last emitted beat
        # (1 2 1) / 4 smoothing, then comb lags up to 4 periods of the slowest tempo must fit
        self._max_lag = self.size - 1

    @property
    def period(self) -> float:
        """Frames per beat."""
        return 60.0 * self.frame_rate / self.bpm

    def push(self, strength: float, accent: float | None = None) -> bool:
        """Add one frame's onset strength (and, optionally, its low-frequency part, which decides
        between a tempo and its double); returns True when a beat falls on this frame."""
        self.env = np.roll(self.env, -1)
        self.env[-1] = strength
        self.accents = np.roll(self.accents, -1)
        self.accents[-1] = strength if accent is None else accent
        self.count += 1
        self._position += 1.0 / self.period
        if self.count >= self.start_after and self.count % self.update_every == 0:
            self._estimate()
        self._since_beat += 1.0
        beat_index = int(np.floor(self._position))
        if beat_index > self._last_beat_index:
            self._last_beat_index = beat_index
            if self._since_beat >= 0.5 * self.period:
                self._since_beat = 0.0
                return self.locked
        return False

    @property
    def position(self) -> float:
        """Beats elapsed on the oscillator (unwrapped phase; phase corrections may step it back)."""
        return float(self._position)

    @property
    def phase(self) -> float:
        """0..1 through the current beat, 0 on the beat."""
        return float(self._position % 1.0)

    def _recent(self) -> np.ndarray:
        n = min(self.count, self.size)
        env = self.env[-n:]
        # a light smoothing so that onsets quantised to frames still line up between periods
        return np.convolve(env, [0.25, 0.5, 0.25], mode="same")

    def _estimate(self) -> None:
        env = self._recent()
        if env.max() <= 1e-9:
            return
        x = env - env.mean()
        n = len(x)
        spec = np.fft.rfft(x, 2 * n)
        ac = np.fft.irfft(spec * np.conj(spec))[:n]
        if ac[0] <= 0:
            return
        ac = ac / ac[0]
        lags = 60.0 * self.frame_rate / self.bpm_grid
        score = np.zeros_like(lags)
        for m in (1, 2, 3, 4):
            ok = m * lags < n - 1
            score += np.where(ok, np.interp(m * lags, np.arange(n), ac), 0.0) / m ** 0.5
        score = np.maximum(score, 0.0) * self.prior
        best = float(self.bpm_grid[int(np.argmax(score))])
        if best / 2.0 >= self.bpm_grid[0] - 0.5:     # (a 60 bpm backbeat is found at 119.7)
            n_acc = min(self.count, self.size)
            accents = np.convolve(self.accents[-n_acc:], [0.25, 0.5, 0.25], mode="same")
            if self._accent_ratio(accents, 60.0 * self.frame_rate / best) > ACCENT_RATIO:
                best /= 2.0
        if not self.locked:
            self.bpm, self.locked = best, True
        elif abs(best - self.bpm) / self.bpm < 0.03:
            self.bpm = 0.6 * self.bpm + 0.4 * best
            self._pending_bpm = None
        elif self._pending_bpm is not None and abs(best - self._pending_bpm) / best < 0.03:
            self.bpm = best
            self._pending_bpm = None
        else:
            self._pending_bpm = best
        self._align(env)

    def _accent_ratio(self, env: np.ndarray, period: float) -> float:
        """Onset strength on the beats of a grid of 2 * period (its best phase) over the strength
        half way between them, over the last ~6 s; 1.0 when too little is known."""
        n = len(env)
        slow = 2.0 * period
        beats = int(min(n - 2, 6.0 * self.frame_rate) // slow)
        if beats < 2:
            return 1.0
        peaks = np.maximum(np.maximum(env[:-2], env[1:-1]), env[2:])   # a peak a frame off still counts
        step = 0.5
        offsets = np.arange(0.0, slow, step)
        positions = (len(peaks) - 1) - offsets[:, None] - slow * np.arange(beats)[None, :]
        sums = np.interp(positions, np.arange(len(peaks)), peaks).sum(axis=1)
        on = int(np.argmax(sums))
        off = (on + int(round(period / step))) % len(offsets)
        return float(sums[on] / sums[off]) if sums[off] > 1e-12 else float("inf")

    def _align(self, env: np.ndarray) -> None:
        """Move the oscillator toward the beat grid that collects the most onset strength."""
        period = self.period
        n = len(env)
        horizon = min(n, int(4.0 * self.frame_rate))
        beats = int(horizon // period)
        if beats < 2:
            return
        # offsets d (frames back from the newest frame) of the most recent beat
        offsets = np.arange(0.0, period, 0.25)
        positions = (n - 1) - offsets[:, None] - period * np.arange(beats)[None, :]
        weights = 0.85 ** np.arange(beats)
        score = (np.interp(positions, np.arange(n), env) * weights).sum(axis=1)
        d = float(offsets[int(np.argmax(score))])
        measured = (d / period) % 1.0          # phase of the newest frame on that grid
        error = (measured - self.phase + 0.5) % 1.0 - 0.5
        self._position += error if abs(error) > 0.25 else 0.6 * error
