"""Levels, band energies, centroid and chroma against signals whose spectrum is known."""

from __future__ import annotations

import numpy as np
import pytest

from latentperform.features import AudioAnalyzer, analyze_frames
from tests.features.audio_signals import SR, filtered_noise, note_freq, tones


def _mean(frames, name, after=1.0):
    return float(np.mean([getattr(f, name) for f in frames if f.time >= after]))


@pytest.mark.parametrize("lo,hi,loudest", [(30, 200, "bass"), (400, 1600, "mid"), (3000, 12000, "high")])
def test_band_energy_follows_filtered_noise(lo, hi, loudest):
    frames = analyze_frames(filtered_noise(lo, hi, 3.0), SR)
    means = {b: _mean(frames, b) for b in ("bass", "mid", "high")}
    assert means[loudest] > 0.8, means
    for other in set(means) - {loudest}:
        assert means[other] < 0.25, means


def test_bands_keep_their_balance_on_white_noise():
    # white noise has most energy in the widest band (high), but every band is well driven
    frames = analyze_frames(filtered_noise(20, 20000, 3.0), SR)
    assert all(_mean(frames, b) > 0.6 for b in ("bass", "mid", "high"))


def test_custom_band_edges():
    a = AudioAnalyzer(SR, bands={"bass": (20, 100), "mid": (100, 1000), "high": (1000, 8000)})
    frames = a.process(filtered_noise(150, 800, 2.0))
    late = [f for f in frames if f.time > 1.0]
    assert np.mean([f.mid for f in late]) > 0.8
    assert np.mean([f.bass for f in late]) < 0.25


def test_centroid_orders_low_and_high_sounds():
    low = analyze_frames(np.concatenate([filtered_noise(100, 400, 3.0), filtered_noise(3000, 9000, 3.0)]), SR)
    t = np.array([f.time for f in low])
    c = np.array([f.centroid for f in low])
    assert c[(t > 1) & (t < 2.9)].mean() < 0.3
    assert c[t > 4].mean() > 0.7
    hz = np.array([f.raw["centroid_hz"] for f in low])
    assert 150 < np.median(hz[(t > 1) & (t < 2.9)]) < 400
    assert 3000 < np.median(hz[t > 4]) < 9000


@pytest.mark.parametrize("notes,classes", [
    ([69], {9}),                      # A4
    ([45], {9}),                      # A2, 110 Hz: needs the long chroma window
    ([60, 64, 67], {0, 4, 7}),        # C major
    ([62, 65, 69], {2, 5, 9}),        # D minor
    ([59, 63, 66, 70], {11, 3, 6, 10}),  # B major 7-ish with A#
])
def test_chroma_peaks_on_the_played_pitch_classes(notes, classes):
    frames = analyze_frames(tones([note_freq(n) for n in notes], 2.0), SR)
    chroma = np.mean([f.chroma for f in frames if 0.5 < f.time < 1.8], axis=0)
    top = set(np.argsort(chroma)[-len(classes):])
    assert top == classes, np.round(chroma, 2)
    others = [chroma[i] for i in range(12) if i not in classes]
    assert max(others) < 0.3 * min(chroma[i] for i in classes), np.round(chroma, 2)


def test_chroma_matches_librosa():
    librosa = pytest.importorskip("librosa")
    x = tones([note_freq(n) for n in (57, 61, 64)], 2.0)   # A major
    ours = np.mean([f.chroma for f in analyze_frames(x, SR) if 0.5 < f.time < 1.8], axis=0)
    # librosa's default 2048-sample window cannot tell A3 from B-flat3; give it ours (8192)
    theirs = librosa.feature.chroma_stft(y=x, sr=SR, n_fft=8192).mean(axis=1)
    assert set(np.argsort(ours)[-3:]) == set(np.argsort(theirs)[-3:]) == {9, 1, 4}


def test_level_automatic_gain_quiet_and_loud_drive_alike():
    x = np.concatenate([tones([220], 3.0, amp=0.3), tones([220], 1.0, amp=0.03)])
    for gain in (0.01, 1.0):
        frames = analyze_frames(x * gain, SR)
        t = np.array([f.time for f in frames])
        level = np.array([f.level for f in frames])
        assert level[(t > 1) & (t < 2.9)].mean() > 0.9, gain
        # 20 dB quieter reads clearly lower, but not zero
        assert 0.25 < level[(t > 3.3) & (t < 3.9)].mean() < 0.65, gain


def test_level_adapts_slowly_to_a_quieter_room():
    x = np.concatenate([tones([220], 2.0, amp=0.5), tones([220], 40.0, amp=0.05)])
    frames = analyze_frames(x, SR)
    t = np.array([f.time for f in frames])
    level = np.array([f.level for f in frames])
    just_after = level[(t > 2.3) & (t < 3)].mean()
    much_later = level[t > 40].mean()
    assert just_after < 0.55 and much_later > 0.9


def test_harmonic_and_percussive_split():
    tone = analyze_frames(tones([330, 440], 2.0), SR)
    noise_hits = np.zeros(2 * SR, np.float32)
    rng = np.random.default_rng(0)
    for start in range(0, 2 * SR - 2000, SR // 8):
        noise_hits[start:start + 1500] = rng.standard_normal(1500) * 0.3
    hits = analyze_frames(noise_hits, SR)
    assert _mean(tone, "harmonic", 0.5) > 0.9
    assert _mean(hits, "percussive", 0.5) > _mean(tone, "percussive", 0.5) + 0.3
