"""Train the beat network (latentperform/features/beatnet.py) and write its weights.

    nice python bench/train_beats.py [--cache DIR] [--epochs 40] [--out latentperform/features/beatnet.npz]

The training set is rendered here with fluidsynth and the GM soundfont, like bench/music_set.py's
sets and from the same writers, but none of its tracks is in either bench set: the grooves at
other tempi with other random seeds (100-499; the sets use 1-31), 16 Bach chorales other than BWV
66.6, 4.8 and 2.6 (organ, strings, piano, quartet), and quartet movements other than the sets'
(Mozart K. 156 i, ii, K. 458 i, iii, K. 80 i; Haydn op. 1/1 ii, op. 74/1 i; Beethoven op. 18/1
ii, iii) for strings or piano, each 30 s, at 44.1 and 48 kHz (the two layouts
the analyzer uses it for).  The truth is the score's beats.  Features are the analyzer's own
(its framing, its 80 bands, BeatFeatures); the target is 1 on the beat's frame and 0.5 beside it.
Training: Adam, truncated back-propagation over 400 frames, a weighted binary cross-entropy; it
takes a few minutes on one CPU core.  Needs torch (to train only: the show runs the weights in
numpy).  bench/beats.py then measures the tracker on the two bench sets.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import music_set as M  # noqa: E402
from latentperform.features.beatnet import BeatFeatures, band_bins  # noqa: E402
from latentperform.features.normalize import power_db  # noqa: E402

GROOVES = [(M.house120, (110, 132)), (M.funk140, (95, 150)), (M.swing160, (120, 200)),
           (M.hiphop78, (70, 100)), (M.dnb174, (160, 180)), (M.latin104, (90, 120)),
           (M.ballad70, (60, 90)), (M.waltz108, (84, 150)), (M.sixeight72, (55, 90))]
QUARTETS = ["mozart/k156/movement1", "mozart/k458/movement1", "haydn/opus1no1/movement2",
            "beethoven/opus18no1/movement2", "mozart/k80/movement1", "haydn/opus74no1/movement1"]
PIANO_PIECES = ["mozart/k156/movement2", "mozart/k458/movement3", "beethoven/opus18no1/movement3"]
CHORALES = 16
IN_THE_SETS = ("bwv66.6", "bwv4.8", "bwv2.6")


def tracks(seed: int, base: int):
    """(name, make) for one rendering of the training set; `base` offsets the groove seeds."""
    from music21 import corpus
    rng = random.Random(seed)
    out = []
    for i, (groove, (lo, hi)) in enumerate(GROOVES):
        for k in range(4):
            out.append((f"{groove.__name__}_t{k}",
                        lambda g=groove, s=base + 10 * i + k, b=rng.uniform(lo, hi): g(seconds=30.0, seed=s, bpm=b)))
    for k in range(4):
        out.append((f"rock_t{k}", lambda s=base + 100 + k, b=rng.uniform(80, 150):
                    M.rock(name="rock_t", sections=((0, b),), seconds=30.0, seed=s)))
    chorales = sorted(str(p).split("/corpus/")[1].rsplit(".", 1)[0] for p in corpus.getPaths()
                      if "/bach/bwv" in str(p) and str(p).endswith(".mxl")
                      and not any(u in str(p) for u in IN_THE_SETS))
    rng.shuffle(chorales)
    programs = [([M.ORGAN], "organ"), ([M.STRINGS], "strings"), ([M.PIANO], "piano"),
                ([M.VIOLIN, M.VIOLIN, M.VIOLA, M.CELLO], "strings")]
    for k, work in enumerate(chorales[:CHORALES]):
        progs, kind = programs[k % 4]
        out.append((f"chorale_t{k}", lambda w=work, b=rng.uniform(66, 110), p=progs, kd=kind:
                    M._corpus("chorale_t", w, None, [(0, b)], 30.0, p, kd)))
    for k, work in enumerate(QUARTETS):
        out.append((f"quartet_t{k}", lambda w=work, b=rng.uniform(80, 150):
                    M._corpus("quartet_t", w, None, [(0, b)], 30.0, [M.VIOLIN, M.VIOLIN, M.VIOLA, M.CELLO], "strings")))
    for k, work in enumerate(PIANO_PIECES):
        out.append((f"piano_t{k}", lambda w=work, b=rng.uniform(90, 160):
                    M._corpus("piano_t", w, None, [(0, b)], 30.0, [M.PIANO], "piano")))
    return out


def spectra(x: np.ndarray, sr: int):
    """The analyzer's power spectra, all frames at once (its framing: frame k ends at sample
    (k + 1) * hop, the history before the first sample is the first hop's mean, DC removed,
    Hann window, mean square per bin); and the frame times."""
    from latentperform.features.analyzer import AudioAnalyzer
    a = AudioAnalyzer(sr)
    hop, n = a.hop, a.n_fft
    x = np.asarray(x, np.float64)
    pad = np.full(n - hop, x[:hop].mean())
    buf = np.concatenate([pad, x])
    count = len(x) // hop
    idx = np.arange(n)[None, :] + (np.arange(count) * hop)[:, None]
    frames = buf[idx]
    frames = frames - frames.mean(axis=1, keepdims=True)
    spec = np.fft.rfft(frames * a.window, axis=1)
    power = (spec.real ** 2 + spec.imag ** 2) / a._win_power
    times = (np.arange(count) + 1) * hop / sr - a.latency
    return power, times, a.frame_rate, a.freqs


def features(x: np.ndarray, sr: int):
    power, times, fr, freqs = spectra(x, sr)
    bins = band_bins(freqs)
    bands = power_db(np.add.reduceat(power, bins, axis=1)[:, :-1])
    f = BeatFeatures(fr, bands.shape[1])
    return np.stack([f.step(b) for b in bands]).astype(np.float32), times


def targets(times: np.ndarray, beats: np.ndarray) -> np.ndarray:
    """1 on the frame nearest each beat, 0.5 on the frames beside it."""
    y = np.zeros(len(times), np.float32)
    step = times[1] - times[0]
    k = np.round((np.asarray(beats) - times[0]) / step).astype(int)
    for d, v in ((0, 1.0), (-1, 0.5), (1, 0.5)):
        kk = k + d
        kk = kk[(kk >= 0) & (kk < len(times))]
        y[kk] = np.maximum(y[kk], v)
    return y


def dataset(cache: Path):
    import soundfile as sf
    cache.mkdir(parents=True, exist_ok=True)
    X, Y = [], []
    for sr, seed, base in ((44100, 7, 100), (48000, 8, 300)):
        for name, make in tracks(seed, base):
            wav, beats_file = cache / f"{name}.{sr}.wav", cache / f"{name}.{sr}.beats.npy"
            if wav.exists() and beats_file.exists():
                x, _ = sf.read(str(wav), dtype="float32")
                beats = np.load(beats_file)
            else:
                try:
                    t = make()
                    x = M.render(t, 30.0, sr=sr)
                except Exception as e:  # a corpus piece music21 cannot read here: leave it out
                    print(f"  {name}: left out ({e})", flush=True)
                    continue
                beats = np.asarray(t.beats)
                sf.write(str(wav), x, sr, subtype="FLOAT")
                np.save(beats_file, beats)
            F, times = features(x, sr)
            X.append(F)
            Y.append(targets(times, beats))
        print(f"{sr} Hz: {len(X)} tracks so far", flush=True)
    return X, Y


def train(X, Y, epochs: int, hidden: int = 48, seed: int = 0):
    import torch

    class Net(torch.nn.Module):
        def __init__(self, d, h):
            super().__init__()
            self.inp = torch.nn.Linear(d, h)
            self.gru = torch.nn.GRU(h, h, batch_first=True)
            self.out = torch.nn.Linear(h, 1)

        def forward(self, x, state=None):
            z, state = self.gru(torch.tanh(self.inp(x)), state)
            return self.out(z).squeeze(-1), state

    torch.manual_seed(seed)
    torch.set_num_threads(1)
    net = Net(X[0].shape[1], hidden)
    opt = torch.optim.Adam(net.parameters(), 2e-3)
    n = min(len(a) for a in X)
    xs = torch.tensor(np.stack([a[:n] for a in X]))
    ys = torch.tensor(np.stack([b[:n] for b in Y]))
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=torch.tensor(8.0))
    t0 = time.time()
    for epoch in range(epochs):
        total = 0.0
        for i in range(0, len(xs), 8):
            batch = torch.arange(i, min(i + 8, len(xs)))   # (shuffled after each epoch)
            state = None
            for c in range(0, n, 400):
                logit, state = net(xs[batch, c:c + 400], state)
                state = state.detach()
                loss = loss_fn(logit, ys[batch, c:c + 400])
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += float(loss.detach())
        perm = torch.randperm(len(xs))
        xs, ys = xs[perm], ys[perm]
        if epoch % 5 == 4 or epoch == epochs - 1:
            print(f"epoch {epoch + 1}: loss {total:.2f} ({time.time() - t0:.0f} s)", flush=True)
    return {k: v.detach().numpy().astype(np.float32) for k, v in net.state_dict().items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cache", default="/tmp/lp-beat-train", help="rendered training tracks (reused)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--out", default=str(ROOT / "latentperform" / "features" / "beatnet.npz"))
    args = ap.parse_args()
    X, Y = dataset(Path(args.cache))
    weights = train(X, Y, args.epochs)
    np.savez(args.out, **weights)
    print(f"wrote {args.out}: {sum(v.size for v in weights.values())} weights from {len(X)} tracks")


if __name__ == "__main__":
    main()
