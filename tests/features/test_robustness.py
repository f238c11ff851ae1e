"""Silence, NaN/inf, DC offset, clipping and odd block sizes never crash nor poison the features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latentperform.features import AudioAnalyzer, analyze_frames
from tests.features.audio_signals import SR, click_track, tones

NORMALISED = ("level", "bass", "mid", "high", "onset", "centroid", "percussive", "harmonic", "beat_phase")


def _check_finite(frames):
    for f in frames:
        for name in NORMALISED:
            v = getattr(f, name)
            assert math.isfinite(v) and 0.0 <= v <= 1.0, (name, v)
        assert all(math.isfinite(c) and 0.0 <= c <= 1.0 for c in f.chroma)
        assert math.isfinite(f.tempo) and 20 <= f.tempo <= 400


def test_silence_reads_zero():
    frames = analyze_frames(np.zeros(3 * SR, np.float32), SR)
    _check_finite(frames)
    for name in ("level", "bass", "mid", "high", "onset", "centroid"):
        assert max(getattr(f, name) for f in frames) == 0.0, name
    assert max(max(f.chroma) for f in frames) == 0.0


def test_tiny_noise_floor_is_not_amplified_to_full_scale():
    rng = np.random.default_rng(0)
    frames = analyze_frames((rng.standard_normal(3 * SR) * 1e-6).astype(np.float32), SR)  # -120 dBFS
    assert max(f.level for f in frames) == 0.0
    assert not any(f.onset_event for f in frames)


def test_nan_and_inf_are_treated_as_zero():
    x, _ = click_track(120, 4.0)
    bad = x.copy()
    bad[1000:1100] = np.nan
    bad[50000] = np.inf
    bad[60000] = -np.inf
    frames = analyze_frames(bad, SR)
    _check_finite(frames)
    clean = bad.copy()
    clean[~np.isfinite(clean)] = 0.0
    assert frames == analyze_frames(clean, SR)


def test_all_nan_input():
    frames = analyze_frames(np.full(SR, np.nan, np.float32), SR)
    _check_finite(frames)
    assert max(f.level for f in frames) == 0.0


def test_dc_offset_changes_nothing_that_matters():
    x = tones([440], 2.0, amp=0.1)
    plain = analyze_frames(x, SR)
    shifted = analyze_frames(x + 0.4, SR)
    _check_finite(shifted)
    for name in ("level", "bass", "mid", "high", "centroid"):
        a = np.array([getattr(f, name) for f in plain])[50:]
        b = np.array([getattr(f, name) for f in shifted])[50:]
        assert np.max(np.abs(a - b)) < 0.05, name
    assert not any(f.onset_event for f in shifted[50:])


def test_a_constant_dc_input_is_silence():
    frames = analyze_frames(np.full(2 * SR, 0.5, np.float32), SR)
    assert max(f.level for f in frames[10:]) == 0.0


def test_hard_clipping_still_tracks_tempo():
    x, _ = click_track(120, 12.0)
    clipped = np.clip(x * 30.0, -1.0, 1.0)
    frames = analyze_frames(clipped, SR)
    _check_finite(frames)
    assert abs(frames[-1].tempo - 120) <= 1.0


def test_huge_values_do_not_overflow():
    frames = analyze_frames(np.full(SR, 1e30, np.float32) * np.sign(np.sin(np.arange(SR))), SR)
    _check_finite(frames)


@pytest.mark.parametrize("block", [0, 1, 7, 511, 512, 513])
def test_any_block_size(block):
    a = AudioAnalyzer(SR)
    x = tones([440], 0.3)
    frames = []
    if block == 0:
        frames += a.process(np.zeros(0, np.float32))
        assert frames == []
        block = 1000
    for i in range(0, len(x), block):
        frames += a.process(x[i:i + block])
    assert len(frames) == len(x) // a.hop
    assert [f.index for f in frames] == list(range(len(frames)))


def test_accepts_int16_and_lists():
    a = AudioAnalyzer(8000)
    assert len(a.process([0.0] * 300)) == 300 // a.hop
    assert len(a.process((np.ones(1000) * 1000).astype(np.int16))) >= 1


def test_bad_parameters_raise():
    with pytest.raises(ValueError):
        AudioAnalyzer(0)
    with pytest.raises(ValueError):
        AudioAnalyzer(SR, hop=1024, n_fft=512)


def test_other_sample_rates():
    for sr in (16000, 48000, 96000):
        x, _ = click_track(120, 10.0, sr=sr)
        frames = analyze_frames(x, sr)
        _check_finite(frames)
        assert abs(frames[-1].tempo - 120) <= 1.0, sr


def test_steady_sounds_make_no_onsets():
    rng = np.random.default_rng(0)
    for x in (tones([220, 330, 440], 3.0) + 0.01 * rng.standard_normal(3 * SR),
              (0.1 * rng.standard_normal(3 * SR)).astype(np.float32)):
        frames = analyze_frames(x, SR)
        assert not any(f.onset_event for f in frames if f.time > 0.3)
