"""A realtime beat tracker fed one beat-strength value per analysis frame.

The strength (analyzer.py: the percussive part's spectral flux, high bands counted twice) may
describe a frame `delay` frames in the past: the tracker predicts beats, so it can use a strength
that needed a few frames of the future (the harmonic/percussive split does) without emitting its
beats any later.

Tempo: every quarter second, the autocorrelation of the last `window_s` of strength, weighted
toward the most recent seconds (so that a tempo change shows within a few seconds), is scored as a
comb (lags L, 2L, 3L, 4L of each candidate period, read between frames) under a log-normal
preference around `prior_bpm`.  A rival 3/4 or 4/3 of the winner (with 0.6 of its score) is
taken when its grid of beats collects more strength than the winner's (even sixteenths line up
in threes as well as in fours; only the accents on the beats tell), and a winner is halved when
its accents say it is a doubled pulse (only from 138 bpm up: longer notes on 1 and 3 of a
132 bpm piece are not a doubled 66).  The first lock needs two estimates in a row that agree
(within 4 %).  The tempo held changes with hysteresis:
  - a winner within 4 % of the tempo held refines it;
  - a winner at another metrical level of it (x2, /2, x3/2, x2/3, x3, /3) replaces it only after
    winning `metric_patience_s` in a row by a clear margin (its comb score over the held tempo's):
    the accent pattern of a bar often favours a level for a few seconds, and a reading that
    flips between levels is worse than either level;
  - any other winner (a new tempo) replaces it after winning three times in a row (0.75 s), and
    the phase is then re-aligned at once; a winner twice or half the new tempo counts for it;
  - a regrouping replaces it at once: once a tempo has been held for 6 s, a tempo 3/4 or 4/3 of
    it whose grid collects 1.3 times the held grid's strength over the last 3 s, on three
    updates in a row (a piece of even sixteenths slowing from 126 to 96: three of its new
    sixteenths make 128, next to the old tempo, and the comb's window holds the old bars for
    seconds; only the accents of the last beats tell), and each third of those 3 s holds a
    quarter of the busiest third's strength at least (a rest leaves a few hits that line up with
    any grid).  It is undone at once when, within 6 s, the tempo before it collects 1.2 times
    the new one's strength over the last 1.5 s on two updates in a row (a bar of dotted eighths
    over a 4/4 groove regroups it; the groove's beats coming back undo it).  For 6 s after a
    regrouping or its undoing, the comb's way to 3/4 or 4/3 of the tempo is taken only where
    the last 3 s of accents agree.
Phase: the grid of the held period that collects the most strength over the last few seconds
(recent beats weighing more); a free-running oscillator follows it with a gentle correction, and a
jump of more than a fifth of a beat (the grid moving to the off-beat, say) must be measured on
updates over 1.5 s in a row first, its grid 1.2 times stronger than the held one's.  A beat is
emitted on the frame nearest the oscillator's wrap, `lead_s` early: the strength peaks a little
after an attack starts, and the beats aim at the attacks.  All in frames of the analyzer, so
timing is exact offline and live alike.
"""

from __future__ import annotations

import numpy as np

ACCENT_RATIO = 1.45   # on-beat / off-beat low-frequency onset strength above which a doubled pulse is halved
HALVE_ABOVE_BPM = 138.0   # a doubled pulse is looked for in readings from this tempo up
GRID_S = 6.0         # seconds of strength a grid's contrast is measured over
RIVAL_SCORE = 0.6    # a tempo 3/4 or 4/3 of the comb's winner with this much of its score is a rival
REGROUP_S = 3.0      # seconds a regrouping (the held tempo's 3/4 or 4/3, see _regrouped) is read over
REGROUP_MARGIN = 1.3   # how much more strength its grid must collect than the held one's ...
REGROUP_UPDATES = 3    # ... on this many updates in a row
REGROUP_QUIET = 0.25   # and no third of those seconds this much quieter than the busiest (_playing)
UNDO_S = 1.5           # a regrouping is undone when, over this many seconds, the tempo before it ...
UNDO_MARGIN = 1.2      # ... collects this much more than the new one ...
UNDO_UPDATES = 2       # ... on this many updates in a row (a fill, not a change: _undo_regroup)
METRIC_RATIOS = (2.0, 0.5, 1.5, 2.0 / 3.0, 3.0, 1.0 / 3.0)


def _related(ratio: float, ratios) -> bool:
    """Whether ratio is within 4 % of one of ratios."""
    return any(abs(np.log(ratio / r)) < np.log(1.04) for r in ratios)


class BeatTracker:
    def __init__(self, frame_rate: float, window_s: float = 6.0, min_bpm: float = 60.0,
                 max_bpm: float = 200.0, prior_bpm: float = 120.0, prior_octaves: float = 1.0,
                 update_s: float = 0.25, start_after_s: float = 1.0, delay: int = 0,
                 lead_s: float = 0.0, recent_s: float = 3.0, metric_patience_s: float = 4.0) -> None:
        self.frame_rate = fr = float(frame_rate)
        self.size = int(round(window_s * fr))
        self.env = np.zeros(self.size)
        self.accents = np.zeros(self.size)   # low-frequency onset strength (see _accent_ratio)
        self._write = 0                      # ring position of the next strength
        self.count = 0                       # frames seen
        self.delay = int(delay)
        self.update_every = max(1, int(round(update_s * fr)))
        self.start_after = int(round(start_after_s * fr)) + self.delay
        self.bpm_grid = np.arange(min_bpm, max_bpm + 1e-9, 0.25)
        self._lags = 60.0 * fr / self.bpm_grid
        self.prior = np.exp(-0.5 * (np.log2(self.bpm_grid / prior_bpm) / prior_octaves) ** 2)
        self.bpm = float(prior_bpm)
        self.locked = False
        self.lead = float(lead_s) * fr       # frames
        self._recent_frames = recent_s * fr
        self._locked_at = 0
        self._young = int(round(6.0 * fr))   # frames after the first lock when jumps come easier
        self._phase_patience = max(1, int(round(1.5 / update_s)))
        self._metric_patience = max(1, int(round(metric_patience_s / update_s)))
        self._position = 0.0                 # beats elapsed (unwrapped oscillator)
        self._last_beat_index = 0
        self._since_beat = 0.0               # frames since the last emitted beat
        self._pending_bpm: float | None = None
        self._changed_at = 0                 # frame count when the tempo held was last replaced
        self._regroup: float | None = None   # a regrouping under watch (_regrouped), its bpm
        self._regroup_count = 0
        self._regrouped_at: int | None = None   # frame count of the last regrouping taken ...
        self._regrouped_from: float | None = None   # ... and the tempo held before it
        self._undo_count = 0
        self._pending_count = 0
        self._pending_phase: float | None = None
        self._pending_phase_count = 0
        self._first_estimate: float | None = None   # the estimate before the first lock

    @property
    def period(self) -> float:
        """Frames per beat."""
        return 60.0 * self.frame_rate / self.bpm

    @property
    def position(self) -> float:
        """Beats elapsed on the oscillator (unwrapped phase; phase corrections may step it)."""
        return float(self._position)

    @property
    def phase(self) -> float:
        """0..1 through the current beat, 0 on the beat."""
        return float(self._position % 1.0)

    def push(self, strength: float, accent: float | None = None) -> bool:
        """Add one frame's beat strength (and, optionally, the low-frequency onset strength of
        the newest frame, which decides between a tempo and its double); returns True when a
        beat falls on this frame."""
        self.env[self._write] = strength if np.isfinite(strength) else 0.0
        a = strength if accent is None else accent
        self.accents[self._write] = a if np.isfinite(a) else 0.0
        self._write = (self._write + 1) % self.size
        self.count += 1
        self._position += 1.0 / self.period
        if self.count >= self.start_after and self.count % self.update_every == 0:
            self._estimate()
        self._since_beat += 1.0
        # the frame nearest the wrap: the wrap falls within half a frame of it
        beat_index = int(np.floor(self._position + 0.5 / self.period))
        if beat_index > self._last_beat_index:
            self._last_beat_index = beat_index
            if self._since_beat >= 0.5 * self.period:
                self._since_beat = 0.0
                return self.locked
        return False

    # ------------------------------------------------------------------ estimation

    def _recent(self) -> np.ndarray:
        n = min(self.count, self.size)
        env = np.roll(self.env, -self._write)[-n:]
        # a light smoothing so that onsets quantised to frames still line up between periods
        return np.convolve(env, [0.25, 0.5, 0.25], mode="same")

    def _comb(self, ac: np.ndarray, lags: np.ndarray) -> np.ndarray:
        n = len(ac)
        score = np.zeros(len(lags))
        grid = np.arange(n)
        for m in (1, 2, 3, 4):
            ok = m * lags < n - 1
            score += np.where(ok, np.interp(m * lags, grid, ac), 0.0)
        return np.maximum(score, 0.0)

    def _estimate(self) -> None:
        env = self._recent()
        if env.max() <= 1e-9:
            return
        n = len(env)
        age = np.arange(n)[::-1]
        x = (env - env.mean()) * np.exp(-age / self._recent_frames)
        spec = np.fft.rfft(x, 2 * n)
        ac = np.fft.irfft(spec.real ** 2 + spec.imag ** 2)[:n]
        if ac[0] <= 0:
            return
        ac = ac / ac[0]
        score = self._comb(ac, self._lags) * self.prior
        i = int(np.argmax(score))
        if score[i] <= 0:
            return
        best = float(self.bpm_grid[i])
        i, best = self._three_or_four(env, score, i, best)
        halved = False
        # (a 60 bpm backbeat's eighths are found at 119.7; a reading under HALVE_ABOVE_BPM is
        # not halved: piano music with longer notes on 1 and 3 read 132 as 66)
        if best >= HALVE_ABOVE_BPM and best / 2.0 >= self.bpm_grid[0] - 0.5:
            if self._doubled(best):
                best /= 2.0
                halved = True
                i = int(np.argmin(np.abs(self.bpm_grid - best)))
        if not self.locked:
            # the first lock: on two estimates in a row that agree (a second's music can put a
            # stray tempo on top once, and the hysteresis below would then hold it for seconds)
            first = self._first_estimate
            self._first_estimate = best
            if first is None or not _related(best / first, (1.0,)):
                return
            self.bpm, self.locked = best, True
            self._locked_at = self._changed_at = self.count
            self._align(env, force=True)
            return
        held = float(self._comb(ac, np.array([60.0 * self.frame_rate / self.bpm]))[0]
                     * np.interp(self.bpm, self.bpm_grid, self.prior))
        pending = self._pending_bpm
        if pending is not None and not _related(pending / self.bpm, (1.0,) + METRIC_RATIOS) and \
                not _related(best / self.bpm, (1.0,)) and _related(best / pending, (2.0, 0.5)):
            # twice or half a new tempo waiting to be taken is that tempo heard at another
            # level (a sonata's eighths after it slowed): it counts for it, not against it
            best = pending
        ratio = best / self.bpm
        force = False
        undone = self._undo_regroup(env)
        regrouped = undone if undone is not None else self._regrouped(env)
        if regrouped is not None:
            # (the tempo before a regrouping, to undo it with; after either, the comb's way to
            # 3/4 or 4/3 of the tempo is guarded for GRID_S below)
            self._regrouped_from = self.bpm if undone is None else None
            self._regrouped_at = self.count
            self.bpm = regrouped
            self._pending_bpm, self._pending_count = None, 0
            self._changed_at = self.count
            force = True
        elif _related(ratio, (1.0,)):
            self.bpm = 0.7 * self.bpm + 0.3 * best
            self._pending_bpm, self._pending_count = None, 0
        else:
            metric = _related(ratio, METRIC_RATIOS)
            if self._pending_bpm is not None and _related(best / self._pending_bpm, (1.0,)):
                self._pending_count += 1
            else:
                self._pending_bpm, self._pending_count = best, 1
            need = self._metric_patience if metric else 3
            # (a tempo halved by the accent check needs no comb margin: its accents decided)
            clear = (not metric) or halved or score[i] > 1.3 * held
            if clear and _related(ratio, (0.75, 4.0 / 3.0)) and self._just_regrouped():
                # the way back from a regrouping, while the comb's window still holds the music
                # before it: taken only where the last beats' accents agree
                clear = (self._best_contrast(env, best, REGROUP_S, spread=0.03)
                         > self._best_contrast(env, self.bpm, REGROUP_S, spread=0.03))
            if not clear:
                self._pending_count = 0
            if self._pending_count >= need:
                self.bpm = best
                self._pending_bpm, self._pending_count = None, 0
                self._changed_at = self.count
                force = True
        self._align(env, force=force)

    def _just_regrouped(self) -> bool:
        """Whether a regrouping, or its undoing, was taken within the last GRID_S."""
        return self._regrouped_at is not None and self.count - self._regrouped_at < GRID_S * self.frame_rate

    def _undo_regroup(self, env: np.ndarray) -> float | None:
        """The tempo held before a regrouping, when within GRID_S of it its grid collects
        UNDO_MARGIN times the new grid's strength over the last UNDO_S on UNDO_UPDATES updates
        in a row: the regrouping was a fill (a bar of dotted eighths over a 4/4 groove is read
        as 4/3 of its tempo until the bar has left the REGROUP_S window), and the groove is back."""
        if self._regrouped_from is None or not self._just_regrouped():
            self._regrouped_from, self._undo_count = None, 0
            return None
        # (two beats of the slower tempo at least: a grid over fewer tells nothing)
        seconds = max(UNDO_S, 2.2 * 60.0 / min(self.bpm, self._regrouped_from))
        bpm, before = self._best_period(env, self._regrouped_from, seconds, spread=0.03)
        now = self._best_contrast(env, self.bpm, seconds, spread=0.03)
        self._undo_count = self._undo_count + 1 if before > UNDO_MARGIN * now else 0
        if self._undo_count < UNDO_UPDATES:
            return None
        self._undo_count = 0
        return bpm

    def _playing(self, env: np.ndarray) -> bool:
        """Whether each third of the last REGROUP_S holds at least REGROUP_QUIET of the strength
        of the busiest third: a window with a rest or a stop in it says nothing about how the
        music groups (the few hits left in it line up with some grid by chance)."""
        k = int(REGROUP_S * self.frame_rate) // 3
        thirds = [float(env[len(env) - (3 - j) * k:len(env) - (2 - j) * k].mean()) for j in range(3)]
        return min(thirds) >= REGROUP_QUIET * max(thirds) and max(thirds) > 0.0

    def _regrouped(self, env: np.ndarray) -> float | None:
        """A tempo 3/4 or 4/3 of the one held (within 3 %) whose grid has collected REGROUP_MARGIN
        times the held grid's strength over the last REGROUP_S on REGROUP_UPDATES updates in a
        row, once the tempo has been held for GRID_S: the music has moved to it.

        The comb cannot see such a change for seconds: when a piece of even sixteenths slows
        from 126 to 96, three of the new sixteenths are 128, next to the old tempo, and the
        comb's window still holds the old bars.  The accents of the last few beats tell at once."""
        if self.count - self._changed_at < GRID_S * self.frame_rate or not self._playing(env):
            self._regroup, self._regroup_count = None, 0
            return None
        held = self._best_contrast(env, self.bpm, REGROUP_S, spread=0.03)
        found = None
        for r in (0.75, 4.0 / 3.0):
            bpm, c = self._best_period(env, self.bpm * r, REGROUP_S, spread=0.03)
            if c >= REGROUP_MARGIN * held and (found is None or c > found[1]):
                found = (bpm, c)
        if found is None:
            self._regroup, self._regroup_count = None, 0
            return None
        if self._regroup is not None and _related(found[0] / self._regroup, (1.0,)):
            self._regroup_count += 1
        else:
            self._regroup_count = 1
        self._regroup = found[0]
        if self._regroup_count < REGROUP_UPDATES:
            return None
        self._regroup, self._regroup_count = None, 0
        return found[0]

    def _grid_contrast(self, env: np.ndarray, period: float, seconds: float = GRID_S) -> float:
        """How much more strength the best grid of `period` collects per beat over the last
        few seconds than the average frame has (1.0: none; a grid on the beats of accented music
        collects more than one on its subdivisions or across them)."""
        n = len(env)
        beats = int(min(n - 1, seconds * self.frame_rate) // period)
        mean = float(env[n - int(beats * period) - 1:].mean()) if beats else 0.0
        if beats < 2 or mean <= 1e-12:
            return 1.0
        offsets = np.arange(0.0, period, 0.5)
        positions = (n - 1) - offsets[:, None] - period * np.arange(beats)[None, :]
        sums = np.interp(positions, np.arange(n), env).mean(axis=1)
        return float(sums.max() / mean)

    def _best_period(self, env: np.ndarray, bpm: float, seconds: float = GRID_S,
                     spread: float = 0.01) -> tuple[float, float]:
        """The tempo within `spread` of bpm (steps of half a percent) whose grid has the highest
        contrast, and that contrast: the comb's readings are a quarter bpm apart, and a grid a
        few hundredths of a frame a beat off drifts off sharp attacks within a few seconds."""
        k = int(round(spread / 0.005))
        got = [(self._grid_contrast(env, 60.0 * self.frame_rate / (bpm * (1.0 + 0.005 * f)), seconds),
                bpm * (1.0 + 0.005 * f)) for f in range(-k, k + 1)]
        c, b = max(got)
        return b, c

    def _best_contrast(self, env: np.ndarray, bpm: float, seconds: float = GRID_S,
                       spread: float = 0.01) -> float:
        return self._best_period(env, bpm, seconds, spread)[1]

    def _three_or_four(self, env: np.ndarray, score: np.ndarray, i: int, best: float):
        """The comb's winner or a near rival 3/4 or 4/3 of it, whichever grid collects the most
        strength: in a stream of even sixteenths (an Alberti bass, a rag) three of them (4/3 of
        the tempo) line up as well as four do, and only the accents on the beats tell."""
        here = self._best_contrast(env, best)
        choice = (i, best, here)
        for r in (0.75, 4.0 / 3.0):
            near = np.flatnonzero(np.abs(np.log(self.bpm_grid / (best * r))) < np.log(1.03))
            if not len(near):
                continue
            j = int(near[np.argmax(score[near])])
            if score[j] < RIVAL_SCORE * score[i]:
                continue
            c = self._best_contrast(env, float(self.bpm_grid[j]))
            if c > choice[2]:
                choice = (j, float(self.bpm_grid[j]), c)
        return choice[0], choice[1]

    def _doubled(self, bpm: float) -> bool:
        """Whether the low-band accents of the last seconds say that bpm is a doubled pulse
        (every other beat of it clearly stronger: a slow backbeat's eighths)."""
        n = min(self.count, self.size)
        if n < 4:
            return False
        accents = np.convolve(np.roll(self.accents, -self._write)[-n:], [0.25, 0.5, 0.25], mode="same")
        return self._accent_ratio(accents, 60.0 * self.frame_rate / bpm) > ACCENT_RATIO

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
        if sums[on] <= 1e-9:
            return 1.0   # no low-band onsets on either grid: nothing to tell
        return float(sums[on] / sums[off]) if sums[off] > 1e-12 else float("inf")

    def _align(self, env: np.ndarray, force: bool = False) -> None:
        """Move the oscillator toward the beat grid that collects the most strength."""
        period = self.period
        n = len(env)
        horizon = min(n, int(6.0 * self.frame_rate))
        beats = int(horizon // period)
        if beats < 1:
            return
        # offsets d (frames back from the newest strength) of the most recent beat on the grid
        offsets = np.arange(0.0, period, 0.5)
        positions = (n - 1) - offsets[:, None] - period * np.arange(beats)[None, :]
        weights = 0.9 ** np.arange(beats)
        score = (np.interp(positions, np.arange(n), env, left=0.0) * weights).sum(axis=1)
        j = int(np.argmax(score))
        d = float(offsets[j])
        # the newest strength describes the frame `delay` frames ago; the beats aim `lead` early
        measured = ((d + self.delay + self.lead) / period) % 1.0   # phase of this frame on that grid
        error = (measured - self.phase + 0.5) % 1.0 - 0.5
        if force:
            self._position += error
            self._pending_phase, self._pending_phase_count = None, 0
        elif abs(error) <= 0.2:
            self._position += 0.5 * error
            self._pending_phase, self._pending_phase_count = None, 0
        else:
            # a jump: the same jump (within a tenth of a beat), its grid clearly stronger than
            # the held one's, measured on `phase_patience` updates in a row
            held_d = ((self.phase * period - self.delay - self.lead) % period)
            held = float(np.interp(held_d, offsets, score, period=period))
            young = self.count - self._locked_at < self._young
            if score[j] < (1.05 if young else 1.2) * held:
                self._pending_phase, self._pending_phase_count = None, 0
            elif self._pending_phase is not None and \
                    abs((error - self._pending_phase + 0.5) % 1.0 - 0.5) < 0.1:
                self._pending_phase_count += 1
            else:
                self._pending_phase, self._pending_phase_count = error, 1
            if self._pending_phase_count >= (2 if young else self._phase_patience):
                self._position += error
                self._pending_phase, self._pending_phase_count = None, 0
