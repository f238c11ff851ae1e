"""The streaming audio analyzer: blocks of samples in, one feature frame per hop out.

The live sound-card path and the offline file path feed the same `AudioAnalyzer`; only the block
sizes differ, and the frames do not depend on them (tested).  Pure numpy.

Frame k is computed when sample (k + 1) * hop has arrived, over the last `n_fft` samples (zeros
before the start).  Its `time` is the moment the frame describes in the input's own time base
(seconds from the first sample): the end of its window less `latency` (half a hop).  An attack
shows in the spectral flux on the first frame whose window reaches it, so onset times come out
within a few ms of the truth (measured on clicks, see tests/features).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field

import numpy as np

from . import beatnet
from .beat import BeatTracker
from .normalize import DbRange, MinMaxRange, PeakRange, power_db

DEFAULT_BANDS: dict[str, tuple[float, float]] = {
    "bass": (20.0, 250.0),
    "mid": (250.0, 2000.0),
    "high": (2000.0, 16000.0),
}
ONSET_HF_HZ = 5000.0     # the onset detection's high bands start here (see AudioAnalyzer.__init__)
ONSET_LAG = 2            # frames between the two spectra an onset's rise is measured across
ACCENT_MAX_HZ = 1500.0   # flux below this (kick, snare body, bass): the beat tracker's octave check
BEAT_HIGH_HZ = 1500.0    # the beat strength counts the percussive flux above this twice (see _hpss)
BEAT_LEAD_S = 0.012      # the beats are emitted this much before the strength's peaks (see beat.py):
                         # bench/beats.py measured them +17 ms late against the score without it
PITCH_CLASSES = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")


@dataclass(frozen=True)
class FeatureFrame:
    """Every feature of one analysis frame; all normalised features are 0..1.

    level       loudness (RMS in dB through the automatic gain)
    bass/mid/high  band energies (dB through the automatic gain)
    onset       onset strength (spectral flux, automatic gain)
    onset_event True on the frame of a detected onset (adaptive threshold, peak picked)
    centroid    spectral centroid, log frequency through a slowly adapting range
    chroma      12 pitch-class energies, C first, the strongest at 1
    percussive, harmonic  energy share of the median-filter percussive / harmonic parts
    tempo       beats per minute from the beat tracker (the prior, 120, until it locks)
    beat_phase  0..1 through the current beat, 0 on the beat
    beat        True on the frame where a beat falls (once the tracker has locked)
    """

    index: int
    time: float
    level: float
    bass: float
    mid: float
    high: float
    onset: float
    onset_event: bool
    centroid: float
    chroma: tuple[float, ...]
    percussive: float
    harmonic: float
    tempo: float
    beat_phase: float
    beat: bool
    raw: dict = field(default_factory=dict, compare=False, repr=False)

    def values(self) -> dict[str, float]:
        """Flat name -> float, the columns of a FeatureTrack (chroma as chroma_0..chroma_11)."""
        out = {
            "time": self.time, "level": self.level, "bass": self.bass, "mid": self.mid,
            "high": self.high, "onset": self.onset, "onset_event": float(self.onset_event),
            "centroid": self.centroid, "percussive": self.percussive, "harmonic": self.harmonic,
            "tempo": self.tempo, "beat_phase": self.beat_phase, "beat": float(self.beat),
        }
        for i, c in enumerate(self.chroma):
            out[f"chroma_{i}"] = c
        return out


def _median(x: np.ndarray) -> float:
    """np.median of a 1-D array, without its overhead (called several times a frame)."""
    n = len(x)
    h = n // 2
    if n % 2:
        return float(np.partition(x, h)[h])
    part = np.partition(x, (h - 1, h))
    return 0.5 * float(part[h - 1] + part[h])


class OnsetPicker:
    """Adaptive threshold on an onset detection function (dB of rise): a value fires when it is
    above median + k * median absolute deviation of the last half second, plus `delta` of the
    recent peak (4 s half-life), and at least `min_db`, and still rising."""

    def __init__(self, frame_rate: float, k: float, delta: float, min_db: float) -> None:
        self.k, self.delta, self.min_db = float(k), float(delta), float(min_db)
        self.hist = np.zeros(max(8, int(round(0.5 * frame_rate))))
        self._pos = 0
        self.peak = PeakRange(frame_rate, half_life_s=4.0)
        self.prev = 0.0

    def update(self, value: float) -> bool:
        hist = self.hist
        median = _median(hist)
        spread = _median(np.abs(hist - median))
        self.peak.update(value)
        threshold = max(median + self.k * spread + self.delta * self.peak.peak, self.min_db)
        hist[self._pos] = value
        self._pos = (self._pos + 1) % len(hist)
        rising, self.prev = value > self.prev, value
        return value >= threshold and rising


class AudioAnalyzer:
    """Streaming analysis of mono audio.

    sample_rate  Hz of the input
    hop          samples between frames (default: about 10.7 ms)
    n_fft        analysis window in samples (default: 4 hops)
    bands        name -> (low Hz, high Hz) band energies; the default is bass / mid / high
    beats        "choice" (the default: features/beatnet.BeatChoice, the beat network where it
                 hears the beat and the comb tracker elsewhere, at the layouts the network was
                 trained for, else the comb tracker), "comb" (beat.py alone) or "net" (the
                 network alone); bench/beats.py measures all three
    """

    def __init__(self, sample_rate: float, hop: int | None = None, n_fft: int | None = None,
                 bands: dict[str, tuple[float, float]] | None = None, beats: str = "choice") -> None:
        if beats not in ("comb", "net", "choice"):
            raise ValueError(f'beats must be "comb", "net" or "choice", got {beats!r}')
        if not sample_rate or sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.sample_rate = float(sample_rate)
        if hop is None:
            hop = int(2 ** round(np.log2(self.sample_rate / 93.75)))  # 512 at 44.1 / 48 kHz
        self.hop = int(hop)
        self.n_fft = int(n_fft) if n_fft else 4 * self.hop
        if self.hop <= 0 or self.n_fft < self.hop:
            raise ValueError(f"need 0 < hop <= n_fft, got hop={self.hop} n_fft={self.n_fft}")
        self.bands = dict(DEFAULT_BANDS if bands is None else bands)
        self.frame_rate = self.sample_rate / self.hop
        self.latency = 0.5 * self.hop / self.sample_rate

        sr, n = self.sample_rate, self.n_fft
        self.window = np.hanning(n + 1)[:-1]
        self._win_power = float(np.sum(self.window ** 2))
        freqs = np.fft.rfftfreq(n, 1.0 / sr)
        self.freqs = freqs
        nyquist = sr / 2
        self._band_masks = {name: (freqs >= lo) & (freqs < min(hi, nyquist))
                            for name, (lo, hi) in self.bands.items()}
        # log-spaced sub-bands for the spectral flux: even weight across the spectrum
        edges = np.geomspace(30.0, min(16000.0, nyquist * 0.95), 41)
        idx = np.clip(np.searchsorted(freqs, edges), 1, len(freqs) - 1)
        idx = np.unique(idx)
        self._flux_bins = idx
        # chroma needs semitone resolution down low: its own window, 4 times longer (~190 ms);
        # bins between 65 Hz and 5 kHz, weighted by closeness to the pitch centre
        self.n_chroma = 4 * n
        self._chroma_window = np.hanning(self.n_chroma + 1)[:-1]
        cfreqs = np.fft.rfftfreq(self.n_chroma, 1.0 / sr)
        ok = (cfreqs >= 65.0) & (cfreqs <= min(5000.0, nyquist))
        midi = 69.0 + 12.0 * np.log2(np.maximum(cfreqs, 1e-9) / 440.0)
        self._chroma_bins = np.flatnonzero(ok)
        self._chroma_class = (np.round(midi[ok]).astype(int) % 12)
        self._chroma_weight = np.cos(np.pi * (midi[ok] - np.round(midi[ok]))) ** 2
        self._centroid_ok = (freqs >= 20.0)

        fr = self.frame_rate
        self._level = DbRange(fr)
        self._band_ranges = {name: DbRange(fr, span_db=30.0) for name in self.bands}
        self._onset_range = PeakRange(fr)
        self._centroid_range = MinMaxRange(fr, min_span=1.5)   # octaves
        # the harmonic/percussive split is centred on the frame half its length ago: the beat
        # strength describes that frame, and the tracker knows it (it predicts the beats)
        self._hpss_len = 17
        # the beat tracker: the comb tracker on the percussive flux (beat.py), the beat network
        # and its state space on 80 log bands (beatnet.py), or both with the choice between them
        # (the default), where the network's weights were trained for this layout (44.1 / 48 kHz,
        # 512-sample hops; elsewhere the comb tracker alone)
        self._net_beats = beats in ("net", "choice") and beatnet.supports(self.sample_rate, self.hop, self.n_fft)
        self._beat_choice = self._net_beats and beats == "choice"
        comb = BeatTracker(fr, delay=self._hpss_len // 2, lead_s=BEAT_LEAD_S)
        if self._beat_choice:
            self.beat_tracker = beatnet.BeatChoice(fr, beatnet.BANDS, comb)
        elif self._net_beats:
            self.beat_tracker = beatnet.NetBeatTracker(fr, beatnet.BANDS)
        else:
            self.beat_tracker = comb

        self._buffer = np.zeros(self.n_chroma, dtype=np.float64)   # the last n_chroma samples
        self._fill = 0                                  # samples waiting since the last frame
        self._pending = np.zeros(0, dtype=np.float64)
        self._frame = 0
        self._prev_flux_db: np.ndarray | None = None
        # onsets: two detection functions on 80 log bands, each frame against the frame two
        # before (soft attacks rise over more than one hop): the mean dB rise above ONSET_HF_HZ
        # (every struck or plucked attack is broadband there, while sustained notes and a bass
        # are not: a soft hi-hat under a loud groove, a piano note in a chord) and the mean of
        # the largest quarter of the band rises (an attack with little high end: strings, organ,
        # a bass); each has its own adaptive threshold, and an onset is either's, 60 ms apart
        oedges = np.geomspace(30.0, min(16000.0, nyquist * 0.95), 81)
        self._onset_bins = np.unique(np.clip(np.searchsorted(freqs, oedges), 1, len(freqs) - 1))
        self._net_bins = beatnet.band_bins(freqs)   # the beat network's 80 bands
        self._onset_hf = freqs[self._onset_bins[:-1]] >= ONSET_HF_HZ
        self._onset_top = max(1, int(round(0.25 * (len(self._onset_bins) - 1))))
        self._onset_db_hist = collections.deque(maxlen=ONSET_LAG)   # the last frames' band dB
        self._onset_pickers = (OnsetPicker(fr, k=3.0, delta=0.05, min_db=3.0),   # high bands
                               OnsetPicker(fr, k=5.0, delta=0.1, min_db=4.0))    # largest quarter
        self._last_onset_frame = -10 ** 9
        self._min_onset_gap = max(1, int(round(0.06 * fr)))
        # the low sub-bands (kick, snare body, bass): accents that tell a tempo from its double
        self._flux_low = freqs[idx[:-1]] < ACCENT_MAX_HZ
        # the split looks at bins below 8 kHz only: most of the music's energy, a third of the cost
        self._hpss_bins = nb = int(np.searchsorted(freqs, min(8000.0, nyquist)))
        # rings of the last 17 frames: their power and their across-frequency medians
        self._hpss_hist = np.zeros((self._hpss_len, nb))
        self._perc_hist = np.zeros((self._hpss_len, nb))
        self._hpss_pos = 0
        # each bin's 17 neighbours across frequency (the edge bins repeated past the ends)
        self._perc_windows = np.clip(np.arange(nb)[:, None] + np.arange(-8, 9)[None, :], 0, nb - 1)
        # the beat strength's log-spaced bands below 8 kHz, and which of them are high
        bedges = np.geomspace(30.0, min(8000.0, nyquist * 0.95), 61)
        bidx = np.unique(np.clip(np.searchsorted(freqs, bedges), 1, nb - 1))
        self._beat_bins = bidx
        self._beat_high = freqs[bidx[:-1]] >= BEAT_HIGH_HZ
        self._prev_beat_db: np.ndarray | None = None

    # ------------------------------------------------------------------ streaming

    def process(self, block) -> list[FeatureFrame]:
        """Feed a block of mono samples (any length); returns the frames it completed."""
        x = np.asarray(block, dtype=np.float64).reshape(-1)
        if x.size and not np.all(np.isfinite(x)):
            x = np.nan_to_num(x, nan=0.0, posinf=0.0, neginf=0.0)
        # a hard limit far above full scale: keeps a broken input's numbers finite
        np.clip(x, -16.0, 16.0, out=x)
        data = np.concatenate([self._pending, x]) if self._pending.size else x
        frames = []
        start = 0
        while len(data) - start >= self.hop:
            chunk = data[start:start + self.hop]
            if self._frame == 0:
                # the window's history before the first sample: the first hop's mean, so that a DC
                # offset present from the start makes no step (each frame's own mean is removed)
                self._buffer[:] = chunk.mean()
            self._buffer = np.concatenate([self._buffer[self.hop:], chunk])
            frames.append(self._analyse())
            start += self.hop
        self._pending = data[start:].copy()
        return frames

    def _analyse(self) -> FeatureFrame:
        k = self._frame
        self._frame += 1
        time = (k + 1) * self.hop / self.sample_rate - self.latency
        frame = self._buffer[-self.n_fft:]
        frame = frame - frame.sum() / len(frame)        # DC offset out (.sum() / n: np.mean's
                                                        # overhead counts at 13 means a frame)
        spec = np.fft.rfft(frame * self.window)
        power = (spec.real ** 2 + spec.imag ** 2) / self._win_power   # mean-square per bin

        total = float(power.sum()) * 2.0 / self.n_fft
        tail = frame[-2 * self.hop:]
        level_db = float(power_db(float(np.dot(tail, tail)) / len(tail)))
        level = self._level.update(level_db)

        band_db = {name: float(power_db(power[mask].sum() * 2.0 / self.n_fft))
                   for name, mask in self._band_masks.items()}
        bands = {}
        for name, db in band_db.items():
            rng = self._band_ranges[name]
            # a band's own peak may not sink more than 20 dB under the loudest band's: a band
            # that holds (almost) nothing (window leakage sits ~50 dB down) reads 0 instead of
            # being amplified to full scale
            bands[name] = rng.update(db, peak_floor=max(r.peak for r in self._band_ranges.values()) - 20.0)

        silent = level_db < -80.0

        # spectral flux on log-spaced sub-bands, in dB with an 80 dB floor under the level peak
        sub = np.add.reduceat(power, self._flux_bins)[:-1]
        sub_db = power_db(sub)
        sub_db = np.maximum(sub_db, max(self._level.peak, -100.0) - 80.0)
        if self._prev_flux_db is None:
                flux = accent = 0.0
        else:
            rise = np.maximum(sub_db - self._prev_flux_db, 0.0)
            flux = float(rise.sum()) / len(rise)
            low = rise[self._flux_low]
            accent = float(low.sum()) / len(low)
        self._prev_flux_db = sub_db
        onset = self._onset_range.update(flux)

        onset_event = self._pick_onset(power_db(np.add.reduceat(power, self._onset_bins)[:-1]), k, silent)

        # centroid, in octaves above 20 Hz
        p = power[self._centroid_ok]
        if total > 1e-12 and p.sum() > 0:
            centroid_hz = float((self.freqs[self._centroid_ok] * p).sum() / p.sum())
            centroid = self._centroid_range.update(float(np.log2(centroid_hz / 20.0)))
        else:
            centroid_hz, centroid = 0.0, 0.0

        long = self._buffer - self._buffer.sum() / len(self._buffer)
        lspec = np.fft.rfft(long * self._chroma_window)[self._chroma_bins]
        lpower = lspec.real ** 2 + lspec.imag ** 2
        chroma = np.bincount(self._chroma_class, weights=lpower * self._chroma_weight,
                             minlength=12)
        cmax = chroma.max()
        chroma = chroma / cmax if (cmax > 0 and not silent) else np.zeros(12)

        percussive, harmonic, strength = self._hpss(power, silent)

        if self._beat_choice:
            beat = self.beat_tracker.push(power_db(np.add.reduceat(power, self._net_bins)[:-1]),
                                          strength, accent if not silent else 0.0)
        elif self._net_beats:
            beat = self.beat_tracker.push(power_db(np.add.reduceat(power, self._net_bins)[:-1]))
        else:
            beat = self.beat_tracker.push(strength, accent if not silent else 0.0)
        return FeatureFrame(
            index=k, time=time, level=level, bass=bands.get("bass", 0.0), mid=bands.get("mid", 0.0),
            high=bands.get("high", 0.0), onset=onset, onset_event=onset_event, centroid=centroid,
            chroma=tuple(float(c) for c in chroma), percussive=percussive, harmonic=harmonic,
            tempo=float(self.beat_tracker.bpm), beat_phase=self.beat_tracker.phase, beat=beat,
            raw={"level_db": level_db, "flux": flux, "beat_strength": strength, "beat_position": self.beat_tracker.position, "centroid_hz": centroid_hz,
                 **({"beat_activation": self.beat_tracker.activation} if self._net_beats else {}), **{
                f"{name}_db": db for name, db in band_db.items()}, **bands},
        )

    def _pick_onset(self, bands_db: np.ndarray, k: int, silent: bool) -> bool:
        """Onset on this frame when either detection function (see __init__) rises over its
        adaptive threshold; deciding on the frame itself (no look-ahead) keeps latency at zero,
        and no onset follows another within `_min_onset_gap` (60 ms)."""
        bands_db = np.maximum(bands_db, max(self._level.peak, -100.0) - 80.0)
        hist = self._onset_db_hist
        if len(hist) == hist.maxlen:
            rise = np.maximum(bands_db - hist[0], 0.0)
            high = float(rise[self._onset_hf].mean()) if self._onset_hf.any() else 0.0
            top = float(np.partition(rise, -self._onset_top)[-self._onset_top:].mean())
        else:
            high = top = 0.0
        hist.append(bands_db)
        fired = [picker.update(v) for picker, v in zip(self._onset_pickers, (high, top))]
        if silent or not any(fired) or k - self._last_onset_frame < self._min_onset_gap:
            return False
        self._last_onset_frame = k
        return True

    def _hpss(self, power: np.ndarray, silent: bool) -> tuple[float, float, float]:
        """Median-filter harmonic/percussive split; returns (percussive share, harmonic share,
        beat strength).

        Harmonic: the median of each bin over the last 17 frames (steady in time); percussive:
        the median across 17 neighbouring bins (broadband).  The shares are the newest frame's
        energy split below 8 kHz.  The beat strength is the spectral flux of the percussive part
        of the frame 8 frames ago, for which the 17 frames are centred (a true split: a note
        that sustains is harmonic there, a kick or a snare is percussive), in dB on 60 log
        bands, the bands above BEAT_HIGH_HZ counted twice: the attacks of drums and of struck
        notes, less the tonal onsets of a bass or a pad, which often fall between the beats.
        """
        power = power[:self._hpss_bins]
        pos = self._hpss_pos
        self._hpss_pos = (pos + 1) % self._hpss_len
        self._hpss_hist[pos] = power
        # medians of 17 values (an odd count: the middle one), by partition: np.median's own
        # overhead was a tenth of the analyzer's time
        perc = np.partition(power[self._perc_windows], 8, axis=1)[:, 8]
        self._perc_hist[pos] = perc
        harm = np.partition(self._hpss_hist, 8, axis=0)[8]

        # the beat strength, for the frame the time median is centred on
        centre = (pos - self._hpss_len // 2) % self._hpss_len
        pc, hc = self._perc_hist[centre] ** 2, harm ** 2
        d = pc + hc
        sp = self._hpss_hist[centre] * np.divide(pc, d, out=np.zeros_like(d), where=d > 0)
        band_db = power_db(np.add.reduceat(sp, self._beat_bins)[:-1])
        band_db = np.maximum(band_db, max(self._level.peak, -100.0) - 60.0)
        if self._prev_beat_db is None:
            strength = 0.0
        else:
            rise = np.maximum(band_db - self._prev_beat_db, 0.0)
            strength = float(rise.mean() + rise[self._beat_high].mean())
        self._prev_beat_db = band_db

        if silent:
            return 0.0, 0.0, strength
        h2, p2 = hc, perc ** 2
        denom = h2 + p2
        mask_p = np.divide(p2, denom, out=np.zeros_like(denom), where=denom > 0)
        e = power.sum()
        if e <= 0:
            return 0.0, 0.0, strength
        share = float((mask_p * power).sum() / e)
        return share, 1.0 - share, strength
