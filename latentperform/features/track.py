"""Offline analysis: a whole file through the streaming analyzer, resampled to video frames."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..config import UserError
from ..events import ControlEvent
from .analyzer import AudioAnalyzer, FeatureFrame

COLUMNS = ("time", "level", "bass", "mid", "high", "onset", "centroid", "percussive", "harmonic",
           "beat_phase", "tempo", "beat", "onset_event") + tuple(f"chroma_{i}" for i in range(12))
# continuous features and their event addresses; triggers are handled apart
_CONTINUOUS = ("level", "bass", "mid", "high", "onset", "centroid", "percussive", "harmonic",
               "beat_phase", "tempo")


def frame_events(values: dict[str, float], time: float, source: str = "audio") -> list[ControlEvent]:
    """The ControlEvents of one frame of features (a FeatureTrack row or FeatureFrame.values()).

    audio/<feature> for each continuous feature, audio/chroma/<i>, then the triggers:
    audio/onset_event (value 1) on an onset frame and audio/beat (value 1) on a frame where the
    beat tracker puts a beat.  (The show's `clock/beat` comes from its tempo source: with
    [clock] source = "audio" the engine's beat grid is phase-locked to these beats.)
    """
    events = [ControlEvent(source, f"audio/{name}", float(values[name]), time)
              for name in _CONTINUOUS if name in values]
    events += [ControlEvent(source, f"audio/chroma/{i}", float(values[f"chroma_{i}"]), time)
               for i in range(12) if f"chroma_{i}" in values]
    if values.get("onset_event", 0.0) > 0:
        events.append(ControlEvent(source, "audio/onset_event", 1.0, time))
    if values.get("beat", 0.0) > 0:
        events.append(ControlEvent(source, "audio/beat", 1.0, time))
    return events


def load_audio(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """(mono float32 samples, sample rate) of an audio file; UserError naming the file if it
    cannot be read."""
    import soundfile as sf

    p = Path(path)
    if not p.exists():
        raise UserError(f"audio file not found: {p}")
    if p.is_dir():
        raise UserError(f"audio file is a directory: {p}")
    try:
        data, sr = sf.read(str(p), dtype="float32", always_2d=True)
    except Exception as e:  # libsndfile reports unknown formats and broken headers alike
        msg = str(e).strip().splitlines()[-1] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read audio file {p}: {msg}") from None
    if data.shape[0] == 0:
        raise UserError(f"audio file has no samples: {p}")
    if not np.isfinite(data).all():  # a float file can hold them; the analysis and the encoder choke
        raise UserError(f"the audio file {p} holds NaN or infinite samples")
    return np.ascontiguousarray(data.mean(axis=1), dtype=np.float32), int(sr)


class FeatureTrack:
    """Features per video frame: row k describes time k / fps.

    columns  names, see COLUMNS
    data     (frames, columns) float64
    frames   the analyzer's own frames (time-ordered), for plots and finer timing
    """

    def __init__(self, columns, data: np.ndarray, fps: float, sample_rate: float,
                 onset_times=(), beat_times=()) -> None:
        self.columns = tuple(columns)
        self.data = np.asarray(data, dtype=np.float64)
        self.fps = float(fps)
        self.sample_rate = float(sample_rate)
        self.onset_times = np.asarray(onset_times, dtype=np.float64)
        self.beat_times = np.asarray(beat_times, dtype=np.float64)
        self._index = {c: i for i, c in enumerate(self.columns)}

    def __len__(self) -> int:
        return self.data.shape[0]

    @property
    def duration(self) -> float:
        return len(self) / self.fps

    def column(self, name: str) -> np.ndarray:
        return self.data[:, self._index[name]]

    def row(self, k: int) -> dict[str, float]:
        return {c: float(v) for c, v in zip(self.columns, self.data[k])}

    def events_for_frame(self, k: int, time: float | None = None) -> list[ControlEvent]:
        """The ControlEvents that video frame k sends to the engine, stamped `time` (default k/fps)."""
        return frame_events(self.row(k), k / self.fps if time is None else float(time))

    def summary(self) -> str:
        """A few lines for a person: length, tempo, beats, onsets, how loud."""
        tempo = self.column("tempo")
        settled = tempo[len(tempo) // 2:] if len(tempo) > 1 else tempo
        lines = [
            f"{self.duration:.2f} s, {len(self)} frames at {self.fps:g} fps",
            f"tempo {float(np.median(settled)):.1f} bpm (median of the second half; "
            f"range {tempo.min():.1f}..{tempo.max():.1f})",
            f"{len(self.beat_times) or int(self.column('beat').sum())} beats, "
            f"{len(self.onset_times) or int(self.column('onset_event').sum())} onsets",
            "mean " + ", ".join(f"{c} {self.column(c).mean():.2f}"
                                for c in ("level", "bass", "mid", "high", "onset", "centroid")),
        ]
        chroma = [self.column(f"chroma_{i}").mean() for i in range(12) if f"chroma_{i}" in self._index]
        if chroma:
            names = ("C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B")
            top = np.argsort(chroma)[::-1][:3]
            lines.append("strongest pitch classes " + ", ".join(names[i] for i in top))
        return "\n".join(lines)

    def to_csv(self, path: str | os.PathLike) -> None:
        np.savetxt(path, self.data, delimiter=",", header=",".join(self.columns), comments="",
                   fmt="%.6g")

    @classmethod
    def from_csv(cls, path: str | os.PathLike, fps: float) -> "FeatureTrack":
        with open(path) as f:
            columns = f.readline().strip().split(",")
        data = np.loadtxt(path, delimiter=",", skiprows=1, ndmin=2)
        return cls(columns, data, fps, sample_rate=0.0)


def analyze_frames(samples: np.ndarray, sample_rate: float, block: int = 65536,
                   **analyzer_args) -> list[FeatureFrame]:
    """Every analyzer frame of a whole signal (fed in blocks, exactly as live)."""
    analyzer = AudioAnalyzer(sample_rate, **analyzer_args)
    x = np.asarray(samples, dtype=np.float32).reshape(-1)
    frames: list[FeatureFrame] = []
    for start in range(0, len(x), block):
        frames += analyzer.process(x[start:start + block])
    # no zero-padding flush at the end: the drop to silence would read as a loud transient.  The
    # last frame describes the last hop; later video frames hold its values.
    return frames


def analyze_file(path_or_array, fps: float, sample_rate: float | None = None,
                 **analyzer_args) -> FeatureTrack:
    """Features for each video frame k (time k / fps) of a file, or of a mono array at sample_rate."""
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if isinstance(path_or_array, (str, os.PathLike)):
        samples, sr = load_audio(path_or_array)
    else:
        if sample_rate is None:
            raise ValueError("analyze_file(array) needs sample_rate")
        samples = np.asarray(path_or_array, dtype=np.float32)
        if samples.ndim == 2:   # (samples, channels)
            samples = samples.mean(axis=1)
        sr = float(sample_rate)
    frames = analyze_frames(samples, sr, **analyzer_args)
    duration = len(samples) / sr
    n_video = max(1, int(np.ceil(duration * fps - 1e-9)))
    t_video = np.arange(n_video) / fps

    t = np.array([f.time for f in frames])
    table = np.array([[v for k, v in f.values().items()] for f in frames])
    names = list(frames[0].values().keys())
    col = {n: table[:, i] for i, n in enumerate(names)}

    # beat phase is interpolated on the tracker's unwrapped position, so never across a wrap
    position = np.array([f.raw["beat_position"] for f in frames])

    onset_times = t[col["onset_event"] > 0]
    beat_times = t[col["beat"] > 0]
    half = 0.5 / fps
    out = np.zeros((n_video, len(COLUMNS)))
    for j, name in enumerate(COLUMNS):
        if name == "time":
            out[:, j] = t_video
        elif name == "beat_phase":
            out[:, j] = np.interp(t_video, t, position) % 1.0
        elif name in ("beat", "onset_event"):
            times = beat_times if name == "beat" else onset_times
            lo = np.searchsorted(times, t_video - half, side="left")
            hi = np.searchsorted(times, t_video + half, side="left")
            out[:, j] = (hi > lo).astype(float)
        else:
            out[:, j] = np.interp(t_video, t, col[name])
    return FeatureTrack(COLUMNS, out, fps, sr, onset_times=onset_times, beat_times=beat_times)
