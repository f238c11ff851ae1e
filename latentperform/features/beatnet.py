"""The beat tracker: a small recurrent network says how much each frame looks like a beat, and a
causal dynamic Bayesian network over (tempo, place in the beat) turns that into a tempo, a phase
and beats.  Pure numpy; the weights ship in the package (beatnet.npz: arrays only, read with
allow_pickle=False), trained by bench/train_beats.py on fluidsynth renders of grooves and
music21 corpus pieces that neither bench set holds.

The network (BeatActivation): each frame's 80 log bands (30 Hz - 16 kHz, BeatFeatures: the level
under a slowly sinking peak, and the dB rises over one and two frames) -> a dense layer -> a GRU of 48
units -> a beat probability.  One frame costs about 25 thousand multiply-adds.

The state space (BeatDBN, after Krebs, Böck and Widmer 2015): a tempo is a beat period of a whole
number of frames (60-200 bpm); a state is (period, frames since the beat).  Each frame every
state moves one frame on; at the end of its period it starts the next beat at the same or a
near period (probability falling as exp(-lambda |ratio - 1|)).  The network's probability p
weighs the first 1/16 of each period by p and the rest by (1 - p) / 15.  Forward filtering only
(causal): the most likely state gives the phase; the tempo is the mean interval of the last twelve
beats (so that a tempo between two whole periods reads right), or the state's period after a
change (the most likely period 8 % off the beats' for half a beat).  A beat is emitted on the
frame the most likely state's beat falls on.

Trained for 44.1 and 48 kHz with 512-sample hops (the analyzer's default there).  On its own
(AudioAnalyzer(beats="net")) it is far ahead of the comb tracker (beat.py) on grooves and behind
it on classical pieces, where it hears no clear beat; the show's tracker is BeatChoice, which
runs both and answers with the network where the network is confident and with the comb tracker
elsewhere (bench/RESULTS.md).
"""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np

WEIGHTS = Path(__file__).with_name("beatnet.npz")
BAND_LO_HZ, BAND_HI_HZ, BANDS = 30.0, 16000.0, 80
FLOOR_DB = 80.0            # band levels are taken down to this far under the peak
PEAK_RELEASE_DB_S = 0.5    # the peak sinks this fast after a loud passage
LAYOUTS = ((44100, 512, 2048), (48000, 512, 2048))   # (sample rate, hop, n_fft) it was trained for


def band_bins(freqs: np.ndarray) -> np.ndarray:
    """The FFT-bin edges of the 80 log bands, for np.add.reduceat: always 80 bands whatever the
    bin spacing (a band narrower than a bin reads the bin it starts in)."""
    edges = np.geomspace(BAND_LO_HZ, BAND_HI_HZ, BANDS + 1)
    return np.clip(np.searchsorted(freqs, edges), 1, len(freqs) - 1)


def supports(sample_rate: float, hop: int, n_fft: int) -> bool:
    return (int(round(sample_rate)), int(hop), int(n_fft)) in LAYOUTS and WEIGHTS.exists()


class BeatFeatures:
    """One frame's band levels (dB, any floor) -> the network's input vector."""

    def __init__(self, frame_rate: float, n_bands: int) -> None:
        self.release = PEAK_RELEASE_DB_S / frame_rate
        self.peak = -np.inf
        self.last: list[np.ndarray] = []   # the two frames before, newest last
        self.n = int(n_bands)

    def step(self, bands_db: np.ndarray) -> np.ndarray:
        top = float(np.max(bands_db))
        self.peak = top if not np.isfinite(self.peak) else max(top, self.peak - self.release)
        s = np.maximum(bands_db, self.peak - FLOOR_DB)    # dB, at most 80 under the peak
        p1 = self.last[-1] if self.last else s
        p2 = self.last[-2] if len(self.last) == 2 else p1
        self.last = [p1, s] if self.last else [s]
        return np.concatenate([(s - self.peak) / FLOOR_DB + 1.0, np.maximum(s - p1, 0.0) / 20.0,
                               np.maximum(s - p2, 0.0) / 20.0])


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


class BeatActivation:
    """The recurrent network, one frame at a time (weights: a dict of arrays or beatnet.npz)."""

    def __init__(self, weights: dict | None = None) -> None:
        if weights is None:
            with np.load(WEIGHTS, allow_pickle=False) as w:
                weights = {k: w[k].astype(np.float64) for k in w.files}
        self.w_in, self.b_in = weights["inp.weight"], weights["inp.bias"]
        self.w_ih, self.b_ih = weights["gru.weight_ih_l0"], weights["gru.bias_ih_l0"]
        self.w_hh, self.b_hh = weights["gru.weight_hh_l0"], weights["gru.bias_hh_l0"]
        self.w_out, self.b_out = weights["out.weight"][0], float(weights["out.bias"][0])
        self.hidden = len(self.b_in)
        self.h = np.zeros(self.hidden)
        self.inputs = self.w_in.shape[1]

    def step(self, x: np.ndarray) -> float:
        H = self.hidden
        u = np.tanh(self.w_in @ x + self.b_in)
        gi = self.w_ih @ u + self.b_ih
        gh = self.w_hh @ self.h + self.b_hh
        r = _sigmoid(gi[:H] + gh[:H])
        z = _sigmoid(gi[H:2 * H] + gh[H:2 * H])
        n = np.tanh(gi[2 * H:] + r * gh[2 * H:])
        self.h = (1.0 - z) * n + z * self.h
        return float(_sigmoid(self.w_out @ self.h + self.b_out))


class BeatDBN:
    """See the module docstring.  push(p) -> True on a beat; bpm, phase, position, locked."""

    def __init__(self, frame_rate: float, min_bpm: float = 60.0, max_bpm: float = 200.0,
                 transition_lambda: float = 100.0, observation_lambda: int = 16,
                 lag_frames: float = 1.0, start_after_s: float = 1.0,
                 prior_bpm: float = 120.0, prior_octaves: float | None = None) -> None:
        fr = self.frame_rate = float(frame_rate)
        P = self.periods = np.arange(int(np.floor(fr * 60.0 / max_bpm)), int(np.ceil(fr * 60.0 / min_bpm)) + 1)
        self.first = np.concatenate([[0], np.cumsum(P)[:-1]])
        self.last = self.first + P - 1
        self.pos = np.concatenate([np.arange(p) for p in P])
        self.per = np.concatenate([np.full(p, i) for i, p in enumerate(P)])   # index into periods
        self.beat_region = self.pos < np.maximum(1.0, P[self.per] / observation_lambda)
        self.obs_lambda = float(observation_lambda)
        T = np.exp(-transition_lambda * np.abs(P[None, :] / P[:, None] - 1.0))
        prior = np.ones(len(P))
        if prior_octaves:   # a preference for tempi near prior_bpm, at every beat
            prior = np.exp(-0.5 * (np.log2(60.0 * fr / P / prior_bpm) / prior_octaves) ** 2)
        T = T * prior[None, :]
        self.T_t = (T / T.sum(axis=1, keepdims=True)).T.copy()     # [to, from]
        alpha = np.repeat(prior / P, P)
        self.alpha = alpha / alpha.sum()
        self.lag = float(lag_frames)       # beats come out this many frames after the state's
        self.start_after = int(round(start_after_s * fr))
        self.count = 0
        self.bpm = 120.0
        self.locked = False
        self._frac = 0.0
        self._beats = 0
        self._since = 0
        self._last_beat: int | None = None
        self._intervals: collections.deque = collections.deque(maxlen=12)   # frames between beats
        self._off = 0                      # frames the most likely period has been off them

    @property
    def phase(self) -> float:
        return float(self._frac)

    @property
    def position(self) -> float:
        return float(self._beats + self._frac)

    @property
    def settled(self) -> bool:
        """Whether the tempo comes from beats heard (three intervals at the tempo held)."""
        return len(self._intervals) >= 3

    def push(self, p: float) -> bool:
        p = min(max(float(p), 0.0), 1.0) if np.isfinite(p) else 0.0
        a = self.alpha
        new = np.empty_like(a)
        new[1:] = a[:-1]
        new[self.first] = self.T_t @ a[self.last]
        new *= np.where(self.beat_region, p, (1.0 - p) / (self.obs_lambda - 1.0)) + 1e-12
        total = new.sum()
        self.alpha = new / total if total > 0 and np.isfinite(total) else np.full_like(a, 1.0 / len(a))
        self.count += 1
        s = int(np.argmax(self.alpha))
        i = int(self.per[s])
        period = float(self.periods[i])
        # a new tempo (the most likely period 8 % off the beats' for half a beat: a state that
        # wins for a frame or two is not a change): the old beats say nothing of it
        if self._intervals and abs(np.log(period * len(self._intervals) / sum(self._intervals))) > np.log(1.08):
            self._off += 1
            if self._off >= 0.5 * period:
                self._intervals.clear()
        else:
            self._off = 0
        frac = ((self.pos[s] - self.lag) / period) % 1.0
        wrapped = frac < self._frac - 0.5
        self._frac = frac
        self._since += 1
        if self.count >= self.start_after:
            self.locked = True
        beat = False
        if wrapped:
            self._beats += 1
            if self._since >= 0.5 * period:
                if self._last_beat is not None:
                    self._intervals.append(self.count - self._last_beat)
                self._last_beat = self.count
                self._since = 0
                beat = self.locked
        # the tempo: the mean of the last beats' intervals (a tempo between two whole periods
        # shows as beats 40, 41, 40... frames apart), the state's period until there are some
        self.bpm = 60.0 * self.frame_rate / (sum(self._intervals) / len(self._intervals) if len(self._intervals) >= 3 else period)
        return beat


class NetBeatTracker:
    """The network and the state space together, fed one frame's band levels at a time."""

    def __init__(self, frame_rate: float, n_bands: int, weights: dict | None = None) -> None:
        self.net = BeatActivation(weights)
        if self.net.inputs != 3 * n_bands:
            raise ValueError(f"the beat network takes {self.net.inputs // 3} bands, got {n_bands}")
        self.features = BeatFeatures(frame_rate, n_bands)
        self.dbn = BeatDBN(frame_rate)
        self.activation = 0.0

    def push(self, bands_db: np.ndarray) -> bool:
        self.activation = self.net.step(self.features.step(bands_db))
        return self.dbn.push(self.activation)

    bpm = property(lambda self: self.dbn.bpm)
    phase = property(lambda self: self.dbn.phase)
    position = property(lambda self: self.dbn.position)
    locked = property(lambda self: self.dbn.locked)
    settled = property(lambda self: self.dbn.settled)


class BeatChoice:
    """The network's tracker where the network hears the beat, the comb tracker (beat.py) where it
    does not: the show's beat tracker at the layouts the network was trained for.

    Both run on every frame.  The network's confidence is the contrast of its probability on its
    own beats over its probability half way between them (each the largest within two frames),
    averaged over the last beats with weight `smoothing` (grooves: 0.5-1.0; classical pieces,
    where it is weak and often at half tempo: -0.2-0.45).  The answer (tempo, beats, phase) is
    the network's until the confidence falls under `leave`, then the comb tracker's until it
    rises over `enter` (hysteresis: a few confident bars in a piano piece do not hand it back).
    It starts with the network (confidence 0.6: the first beats of a groove come from it).  A beat
    within half a beat of the last one is dropped, so that a switch never doubles a beat, and on
    the frame of a switch either tracker's beat counts, so that none is lost.  Until the network
    has heard three beat intervals at one tempo (in silence before a show, say) the tempo and the
    lock are the comb tracker's (the prior, 120, until it locks).  `position` adds up the answer's
    phase steps, each taken the short way round (a switch moves it by at most half a beat).
    """

    def __init__(self, frame_rate: float, n_bands: int, comb, weights: dict | None = None,
                 enter: float = 0.65, leave: float = 0.35, smoothing: float = 0.3) -> None:
        self.net = NetBeatTracker(frame_rate, n_bands, weights)
        self.comb = comb
        self.enter, self.leave, self.smoothing = float(enter), float(leave), float(smoothing)
        self.confidence = 0.6
        self.use_net = True
        self._acts = np.zeros(int(round(4.0 * frame_rate)))   # a ring of the last 4 s
        self._count = 0
        self._net_beat_at: int | None = None
        self._since = 10 ** 9
        self._position = 0.0
        self._frac = 0.0

    @property
    def activation(self) -> float:
        return self.net.activation

    @property
    def chosen(self):
        return self.net if self.use_net else self.comb

    @property
    def bpm(self) -> float:
        """The answer's tempo; the comb tracker's where both agree within 4 % (its reading is
        finer than the network's whole-frame beat intervals)."""
        if not self.use_net or not self.net.settled:
            return self.comb.bpm
        if self.comb.locked and abs(np.log(self.comb.bpm / self.net.bpm)) < np.log(1.04):
            return self.comb.bpm
        return self.net.bpm

    phase = property(lambda self: self._frac)
    position = property(lambda self: self._position)
    locked = property(lambda self: self.net.locked and self.net.settled if self.use_net else self.comb.locked)

    def _act_near(self, frame: float) -> float:
        n = len(self._acts)
        k = int(round(frame))
        if self._count - k >= n - 2 or k > self._count - 3:
            return 0.0
        return float(max(self._acts[(k + d) % n] for d in (-2, -1, 0, 1, 2)))

    def push(self, bands_db: np.ndarray, strength: float, accent: float | None = None) -> bool:
        net_beat = self.net.push(bands_db)
        comb_beat = self.comb.push(strength, accent)
        self._acts[self._count % len(self._acts)] = self.net.activation
        if net_beat:
            # the previous beat is the one whose surroundings are all known by now
            prev = self._net_beat_at
            if prev is not None:
                on = self._act_near(prev)
                mid = self._act_near(0.5 * (prev + self._count))
                self.confidence += self.smoothing * ((on - mid) - self.confidence)
            self._net_beat_at = self._count
        was = self.use_net
        if self.use_net and self.confidence < self.leave:
            self.use_net = False
        elif not self.use_net and self.confidence > self.enter:
            self.use_net = True
        self._count += 1
        tracker = self.chosen
        if self.use_net != was:   # (the confidence moves on a network beat: keep it, or the comb's)
            beat = net_beat or comb_beat
        else:
            beat = net_beat if self.use_net else comb_beat
        period = 60.0 * self.net.dbn.frame_rate / max(self.bpm, 1.0)
        self._since += 1
        if beat and self._since < 0.5 * period:
            beat = False
        if beat:
            self._since = 0
        frac = tracker.phase
        self._position += (frac - self._frac + 0.5) % 1.0 - 0.5
        self._frac = frac
        return beat
