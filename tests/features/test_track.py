"""Offline analysis: files, per-video-frame tracks, events, CSV, plots, determinism."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf

from latentperform.config import UserError
from latentperform.events import ControlEvent
from latentperform.features import COLUMNS, FeatureTrack, analyze_file, load_audio, plot_features
from tests.features.audio_signals import SR, click_track, drum_pattern


@pytest.fixture(scope="module")
def click_wav(tmp_path_factory):
    x, beats = click_track(120, 10.0)
    stereo = np.stack([x, x * 0.5], axis=1)
    path = tmp_path_factory.mktemp("audio") / "clicks.wav"
    sf.write(path, stereo, SR, subtype="FLOAT")
    return path, beats


@pytest.fixture(scope="module")
def track(click_wav):
    return analyze_file(click_wav[0], fps=30)


def test_load_audio_mixes_to_mono_float32(click_wav):
    samples, sr = load_audio(click_wav[0])
    assert sr == SR and samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == 10 * SR
    x, _ = click_track(120, 10.0)
    assert np.max(np.abs(samples - 0.75 * x)) < 1e-6   # the mean of x and x/2


def test_track_has_one_row_per_video_frame(track):
    assert len(track) == 300
    assert track.data.shape == (300, len(track.columns))
    for name in ("time", "level", "bass", "mid", "high", "onset", "centroid", "beat_phase", "tempo",
                 "beat", "onset_event", *[f"chroma_{i}" for i in range(12)]):
        assert name in track.columns
    assert np.allclose(track.column("time"), np.arange(300) / 30)
    assert track.row(45)["time"] == pytest.approx(1.5)


def test_track_beats_and_onsets_fall_on_the_click_frames(track, click_wav):
    _, beats = click_wav
    click_frames = set(np.round(beats * 30).astype(int))
    onset_frames = set(np.flatnonzero(track.column("onset_event")))
    assert onset_frames == click_frames
    beat_frames = np.flatnonzero(track.column("beat"))
    late = [k for k in beat_frames if k >= 240]
    assert late and all(min(abs(k - c) for c in click_frames) <= 1 for k in late)
    assert abs(track.column("tempo")[-1] - 120) <= 1.0


def test_track_beat_phase_is_a_ramp_between_beats(track):
    phase = track.column("beat_phase")[240:]
    steps = np.diff(phase) % 1.0
    # 120 bpm at 30 fps: a quarter of a beat per video frame, never a jump
    assert np.all(np.abs(steps - 2 / 30) < 0.03), np.round(steps, 3)


def test_events_for_frame(track):
    k = int(np.flatnonzero(track.column("beat") * track.column("onset_event"))[-1])
    events = track.events_for_frame(k, time=12.5)
    assert all(isinstance(e, ControlEvent) and e.time == 12.5 for e in events)
    by_address = {e.address: e for e in events}
    for a in ("audio/level", "audio/bass", "audio/mid", "audio/high", "audio/onset", "audio/centroid",
              "audio/beat_phase", "audio/tempo", *[f"audio/chroma/{i}" for i in range(12)]):
        assert by_address[a].source == "audio"
        assert by_address[a].value == pytest.approx(track.row(k)[a.split("/", 1)[1].replace("/", "_")])
    assert by_address["audio/onset_event"].value == 1.0
    assert by_address["audio/beat"].value == 1.0
    quiet = int(np.flatnonzero((track.column("beat") == 0) & (track.column("onset_event") == 0))[-1])
    addresses = [e.address for e in track.events_for_frame(quiet)]
    assert "audio/onset_event" not in addresses and "audio/beat" not in addresses
    assert track.events_for_frame(quiet)[0].time == pytest.approx(quiet / 30)


def test_analyze_is_deterministic(click_wav, track):
    again = analyze_file(click_wav[0], fps=30)
    assert np.array_equal(again.data, track.data)
    samples, sr = load_audio(click_wav[0])
    from_array = analyze_file(samples, fps=30, sample_rate=sr)
    assert np.array_equal(from_array.data, track.data)


def test_other_frame_rates():
    x, beats = drum_pattern(4.0)
    tr = analyze_file(x, fps=60, sample_rate=SR)
    assert len(tr) == 240
    assert tr.column("onset_event").sum() == pytest.approx(len(beats), abs=2)


def test_summary(track):
    text = track.summary()
    assert text.splitlines()[0] == "10.00 s, 300 frames at 30 fps"
    tempo = float(text.splitlines()[1].split()[1])
    assert abs(tempo - 120) <= 1.0
    assert "beats" in text and "onsets" in text


def test_csv_round_trip(track, tmp_path):
    path = tmp_path / "features.csv"
    track.to_csv(path)
    header = path.read_text().splitlines()[0].split(",")
    assert header == list(track.columns)
    back = FeatureTrack.from_csv(path, fps=30)
    assert np.allclose(back.data, track.data, rtol=1e-5, atol=1e-6)


def test_plot(track, tmp_path):
    path = tmp_path / "features.png"
    plot_features(track, path)
    from PIL import Image

    img = np.asarray(Image.open(path).convert("L"))
    assert img.shape[0] > 600 and img.shape[1] > 1000
    assert img.std() > 20          # not blank


def test_missing_file(tmp_path):
    with pytest.raises(UserError, match="not found.*nope.wav"):
        analyze_file(tmp_path / "nope.wav", fps=30)


@pytest.mark.parametrize("content", [b"", b"this is not audio at all\n" * 50, b"RIFF\x00\x00\x00\x00WAVEfmt "])
def test_corrupt_file(tmp_path, content):
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        load_audio(path)
    message = str(err.value)
    assert "broken.wav" in message and "\n" not in message


def test_directory_is_refused(tmp_path):
    with pytest.raises(UserError, match="directory"):
        load_audio(tmp_path)


def test_empty_audio_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0, 1), np.float32), SR)
    with pytest.raises(UserError, match="no samples.*empty.wav"):
        load_audio(path)


def test_array_needs_a_sample_rate():
    with pytest.raises(ValueError):
        analyze_file(np.zeros(100, np.float32), fps=30)


def test_columns_constant():
    assert COLUMNS[0] == "time"
