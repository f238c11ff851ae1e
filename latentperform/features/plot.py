"""A PNG of a FeatureTrack: the main features stacked over time, with beat and onset ticks."""

from __future__ import annotations

import os

import numpy as np

_ROWS = (("level", "level"), ("bass", "bass"), ("mid", "mid"), ("high", "high"),
         ("onset", "onset strength"), ("centroid", "centroid"), ("beat_phase", "beat phase"))


def plot_features(track, path_png: str | os.PathLike, title: str | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure  # no pyplot: no global state, no GUI backend

    t = track.column("time")
    rows = [(c, label) for c, label in _ROWS if c in track.columns]
    fig = Figure(figsize=(12, 1.1 * (len(rows) + 2) + 0.6), dpi=100, layout="constrained")
    axes = fig.subplots(len(rows) + 2, 1, sharex=True)
    beats = track.beat_times if len(track.beat_times) else t[track.column("beat") > 0]
    onsets = track.onset_times if len(track.onset_times) else t[track.column("onset_event") > 0]
    for ax, (name, label) in zip(axes, rows):
        ax.plot(t, track.column(name), lw=0.9, color="tab:blue")
        ax.set_ylim(-0.05, 1.05)
        ax.set_ylabel(label, rotation=0, ha="right", va="center")
        ax.vlines(beats, 0, 1, color="tab:red", lw=0.5, alpha=0.35)
        if name == "onset":
            ax.plot(onsets, np.full(len(onsets), 1.0), "v", color="black", ms=3)
    ax = axes[len(rows)]
    ax.plot(t, track.column("tempo"), lw=1.0, color="tab:green")
    ax.set_ylabel("tempo\n(bpm)", rotation=0, ha="right", va="center")
    ax = axes[len(rows) + 1]
    chroma = np.stack([track.column(f"chroma_{i}") for i in range(12)])
    ax.imshow(chroma, aspect="auto", origin="lower", cmap="magma", interpolation="nearest",
              extent=(t[0], t[-1] + 1 / track.fps, -0.5, 11.5))
    ax.set_yticks(range(12), ["C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B"],
                  fontsize=6)
    ax.set_ylabel("chroma", rotation=0, ha="right", va="center")
    ax.set_xlabel("time (s)")
    fig.suptitle(title or f"audio features ({track.fps:g} fps; red: beats, ▼ onsets)")
    fig.savefig(path_png)
