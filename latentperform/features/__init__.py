"""Audio analysis in pure numpy, shared by the live input and offline renders.

    AudioAnalyzer   streaming: blocks of samples in, FeatureFrames (one per hop) out
    analyze_file    a file or array -> FeatureTrack, one row per video frame
    load_audio      soundfile, mono float32; UserError naming the file when it cannot be read
    plot_features   a PNG of a FeatureTrack (matplotlib, imported only when called)
"""

from .analyzer import DEFAULT_BANDS, PITCH_CLASSES, AudioAnalyzer, FeatureFrame
from .track import COLUMNS, FeatureTrack, analyze_file, analyze_frames, frame_events, load_audio


def plot_features(track, path_png, title=None):
    from .plot import plot_features as _plot

    return _plot(track, path_png, title=title)


__all__ = ["AudioAnalyzer", "FeatureFrame", "FeatureTrack", "COLUMNS", "DEFAULT_BANDS",
           "PITCH_CLASSES", "analyze_file", "analyze_frames", "frame_events", "load_audio",
           "plot_features"]
