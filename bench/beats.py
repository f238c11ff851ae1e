"""Beat, tempo and onset accuracy on real music (bench/music_set.py), several trackers in one run.

    nice python bench/beats.py [--seconds 30] [--only house120,waltz108] [--baseline REV] [--set heldout]
                               [--systems today,live,comb,net,librosa,madmom] [--cache DIR] [--per-track]

Renders the set with fluidsynth (or reads it from --cache, written by an earlier run), then runs
each system over every track and prints one table:

  today    the analyzer of git revision --baseline (default: main's first parent of this work,
           see BASELINE), extracted into a temporary package: the tracker before this work
  live     latentperform.features.AudioAnalyzer of this checkout (causal, as the live input runs
           it): its tracker is beatnet.BeatChoice, the beat network or the comb tracker
  comb     the same analyzer with the comb tracker alone (beats="comb", features/beat.py)
  net      the same analyzer with the beat network and its state space alone (beats="net")
  librosa  librosa.beat.beat_track and onset_detect (offline: they see the whole file)
  madmom   madmom's online tracker: RNNBeatProcessor(online=True) and DBNBeatTrackingProcessor
           (online=True), causal; madmom 0.16 needs shims on Python 3.11 / numpy 2 (below), and
           is used here only, never by latentperform

Figures (steady tracks unless said):
  F, CMLt       mir_eval beat F-measure (70 ms) and CMLt, first 5 s left out (mir_eval's default)
  tempo ok      tracks whose tempo (the tracker's own reading for ours; 60 / median beat
                interval for the others) after 5 s is within 4 % of the truth
  flips         tracks whose tempo reading sits at another metrical level (more than 32 % off:
                x2, /2, x3/2 ...) for more than 1 s after the first 5 s
  lock          seconds from the first note to the first true beat from which the beats stay
                right (the next 4 beats all right and 90 % of the rest, CMLt's rule for "right")
  change lock   the same, from the tempo change, on the change_* tracks
  offset        mean (estimated - true) time of the beats matched within 70 ms, ms (+ = late)
  onsets P/R    mir_eval onset precision and recall (50 ms) by instrument kind
  CPU           ms of CPU per second of audio (process time: the whole analyzer for ours)

The machine is shared: CPU figures move with other people's load; the ratios within one run are
fair, absolute figures are not.
"""

from __future__ import annotations

import argparse
import builtins
import collections
import collections.abc
import hashlib
import importlib.util
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import music_set  # noqa: E402

BASELINE = "3ae6f26"   # main when this work started: the tracker the issue measured


# ---------------------------------------------------------------------------- systems

def _load_features_at(rev: str):
    """latentperform/features of git revision rev as a standalone package (analyzer + helpers)."""
    folder = Path(tempfile.mkdtemp(prefix="lp-features-"))
    pkg = folder / "lp_features_baseline"
    pkg.mkdir()
    for name in ("analyzer.py", "beat.py", "normalize.py", "beatnet.py", "beatnet.npz"):
        got = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:latentperform/features/{name}"],
                             capture_output=True)
        if got.returncode == 0:          # (the beat network's files are newer than the baseline)
            (pkg / name).write_bytes(got.stdout)
    (pkg / "__init__.py").write_text("")
    sys.path.insert(0, str(folder))
    return importlib.import_module("lp_features_baseline.analyzer")


def _run_analyzer(module, x, sr, **kw):
    analyzer = module.AudioAnalyzer(sr, **kw)
    frames = []
    block = 512
    for i in range(0, len(x), block):
        frames += analyzer.process(x[i:i + block])
    t = np.array([f.time for f in frames])
    return {
        "beats": t[np.array([f.beat for f in frames], bool)],
        "onsets": t[np.array([f.onset_event for f in frames], bool)],
        "tempo_t": t, "tempo": np.array([f.tempo for f in frames]),
    }


def _system_today(rev):
    module = _load_features_at(rev)
    return lambda x, sr: _run_analyzer(module, x, sr)


def _system_live():
    from latentperform.features import analyzer
    return lambda x, sr: _run_analyzer(analyzer, x, sr)


def _system_tracker(beats):
    """This checkout's analyzer with one of its trackers alone (beats="comb" or "net")."""
    def make():
        from latentperform.features import analyzer
        return lambda x, sr: _run_analyzer(analyzer, x, sr, beats=beats)
    return make


def _system_librosa():
    import librosa

    def run(x, sr):
        _, beats = librosa.beat.beat_track(y=x, sr=sr, units="time")
        onsets = librosa.onset.onset_detect(y=x, sr=sr, units="time")
        return {"beats": np.asarray(beats), "onsets": np.asarray(onsets)}
    return run


def _madmom_shims() -> None:
    """madmom 0.16.1 on numpy 2 / Python 3.11: the removed numpy aliases, collections ABCs and
    pkg_resources it still imports (it only asks pkg_resources for its own version)."""
    for a in ("float", "int", "complex", "bool", "object"):
        if a not in np.__dict__:
            setattr(np, a, getattr(builtins, a))
    for a in ("MutableSequence", "Mapping", "MutableMapping", "Iterable", "Sequence"):
        if not hasattr(collections, a):
            setattr(collections, a, getattr(collections.abc, a))
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401
        except ImportError:
            shim = types.ModuleType("pkg_resources")

            class _Dist:
                version = "0.16.1"
            shim.get_distribution = lambda name: _Dist()
            shim.DistributionNotFound = Exception
            sys.modules["pkg_resources"] = shim


def _system_madmom():
    _madmom_shims()
    import madmom
    from madmom.features.beats import DBNBeatTrackingProcessor, RNNBeatProcessor

    def run(x, sr):
        sig = madmom.audio.signal.Signal(x, sample_rate=sr, num_channels=1)
        act = RNNBeatProcessor(online=True, origin="online")(sig)
        beats = DBNBeatTrackingProcessor(fps=100, online=True)(act)
        return {"beats": np.asarray(beats)}
    return run


# ---------------------------------------------------------------------------- scoring

def _hits(est: np.ndarray, ref: np.ndarray, tol: float = 0.175) -> np.ndarray:
    """For each true beat: an estimated beat within tol of the beat interval, whose interval to
    the previous estimated beat is also within tol of the true one (CMLt's rule)."""
    hit = np.zeros(len(ref), bool)
    if len(est) < 2 or len(ref) < 2:
        return hit
    ibi = np.diff(ref)
    for j in range(1, len(ref)):
        k = int(np.argmin(np.abs(est - ref[j])))
        if abs(est[k] - ref[j]) > tol * ibi[j - 1] or k == 0:
            continue
        if abs((est[k] - est[k - 1]) - ibi[j - 1]) <= tol * ibi[j - 1]:
            hit[j] = True
    return hit


def _lock_time(est, ref, since: float) -> float | None:
    """Seconds from `since` to the first true beat from which the beats stay right."""
    hit = _hits(est, ref)
    for j in range(len(ref)):
        if ref[j] < since - 1e-6:
            continue
        rest = hit[j:]
        if len(rest) >= 4 and rest[:4].all() and rest.mean() >= 0.9:
            return float(ref[j] - since)
    return None


def _tempo_curve(res) -> tuple[np.ndarray, np.ndarray]:
    if "tempo" in res:
        return res["tempo_t"], res["tempo"]
    b = res["beats"]
    if len(b) < 5:
        return np.zeros(0), np.zeros(0)
    ibi = np.diff(b)
    med = np.array([np.median(ibi[max(0, i - 3):i + 1]) for i in range(len(ibi))])
    return b[1:], 60.0 / med


def score(track, res, trim: float = 5.0) -> dict:
    import mir_eval

    ref = track.beats
    est = np.asarray(res["beats"], float)
    out = {}
    r5, e5 = mir_eval.beat.trim_beats(ref, trim), mir_eval.beat.trim_beats(est, trim)
    out["F"] = mir_eval.beat.f_measure(r5, e5)
    out["CMLt"] = mir_eval.beat.continuity(r5, e5)[1] if len(e5) > 1 else 0.0
    out["lock"] = _lock_time(est, ref, track.start)
    if track.changes:
        out["change_lock"] = _lock_time(est, ref, track.changes[0])
    # offset of matched beats
    if len(e5):
        d = np.array([e - r5[np.argmin(np.abs(r5 - e))] for e in e5]) if len(r5) else np.zeros(0)
        d = d[np.abs(d) <= 0.07]
        out["offset"] = float(d.mean()) if len(d) else None
    else:
        out["offset"] = None
    if not track.changes:
        t, bpm = _tempo_curve(res)
        truth = track.bpm[0]
        late = t >= trim
        if late.sum():
            med = float(np.median(bpm[late]))
            out["tempo_ok"] = abs(med - truth) / truth <= 0.04
            ratio = np.log2(bpm[late] / truth)
            off_level = np.abs(ratio) > 0.4
            # more than 1 s at another metrical level
            dt = np.diff(t[late], append=t[late][-1])
            out["flip"] = bool(np.sum(dt[off_level]) > 1.0)
            out["tempo_med"] = med
        else:
            out["tempo_ok"], out["flip"], out["tempo_med"] = False, False, float("nan")
    if "onsets" in res:
        p, r = _onset_pr(track.onsets, res["onsets"])
        out["onset_p"], out["onset_r"] = p, r
    return out


def _onset_pr(ref, est, window: float = 0.05):
    import mir_eval

    if len(est) == 0:
        return 0.0, 0.0
    _, p, r = mir_eval.onset.f_measure(np.asarray(ref), np.asarray(est), window=window)
    return p, r


# ---------------------------------------------------------------------------- table

def _fmt(v, spec="{:.2f}"):
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else spec.format(v)


def table(names, tracks, results, cpu, seconds):
    steady = [n for n in tracks if not tracks[n].changes]
    changes = [n for n in tracks if tracks[n].changes]
    rows = []
    head = ("system", "median F", "median CMLt", f"tempo ok /{len(steady)}", "flips",
            "lock median / max (locked)", "change lock", "offset ms",
            "onsets P/R piano", "drums", "strings+organ", "CPU ms/s")
    for s in names:
        sc = {n: results[s][n] for n in tracks}
        F = np.median([sc[n]["F"] for n in tracks])
        C = np.median([sc[n]["CMLt"] for n in tracks])
        ok = sum(bool(sc[n].get("tempo_ok")) for n in steady)
        flips = sum(bool(sc[n].get("flip")) for n in steady)
        locks = [sc[n]["lock"] for n in tracks]
        got = [v for v in locks if v is not None]
        lock = f"{np.median(got):.1f} / {max(got):.1f} s ({len(got)}/{len(locks)})" if got else "never"
        cl = [sc[n]["change_lock"] for n in changes]
        cl_s = ", ".join("never" if v is None else f"{v:.1f} s" for v in cl) or "-"
        offs = [sc[n]["offset"] for n in tracks if sc[n]["offset"] is not None]
        onset = []
        for kinds in (("piano",), ("drums",), ("strings", "organ")):
            ks = [n for n in tracks if tracks[n].kind in kinds and "onset_p" in sc[n]]
            if ks:
                onset.append(f"{np.mean([sc[n]['onset_p'] for n in ks]):.2f}/"
                             f"{np.mean([sc[n]['onset_r'] for n in ks]):.2f}")
            else:
                onset.append("-")
        rows.append((s, f"{F:.2f}", f"{C:.2f}", str(ok), str(flips), lock, cl_s,
                     _fmt(1000 * float(np.mean(offs)) if offs else None, "{:+.0f}"),
                     *onset, f"{1000 * cpu[s] / seconds:.1f}"))
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


def per_track(names, tracks, results):
    print()
    print(f"{'track':14s} {'meter':5s} {'bpm':>7s}  " + "  ".join(f"{s:>24s}" for s in names))
    print(f"{'':29s}" + "  ".join(f"{'F  CMLt  lock  tempo':>24s}" for _ in names))
    for n, t in tracks.items():
        cells = []
        for s in names:
            r = results[s][n]
            lk = r.get("change_lock", r["lock"]) if t.changes else r["lock"]
            tm = r.get("tempo_med")
            cells.append(f"{r['F']:.2f} {r['CMLt']:.2f} {_fmt(lk, '{:4.1f}'):>5s} "
                         f"{_fmt(tm, '{:6.1f}'):>6s}{'!' if r.get('flip') else ' '}")
        print(f"{n:14s} {t.meter:5s} {'/'.join(f'{b:g}' for b in t.bpm):>7s}  " +
              "  ".join(f"{c:>24s}" for c in cells))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=30.0)
    ap.add_argument("--only", default="")
    ap.add_argument("--baseline", default=BASELINE)
    ap.add_argument("--systems", default="today,live,comb,librosa,madmom")
    ap.add_argument("--cache", default="", help="folder for the rendered set (reused when present)")
    ap.add_argument("--per-track", action="store_true")
    ap.add_argument("--set", default="main", choices=sorted(music_set.SETS),
                    help="main: the set the trackers were tuned on; heldout: tracks nothing was tuned on")
    args = ap.parse_args()
    if not music_set.can_render():
        sys.exit("needs fluidsynth and a GM soundfont (apt-get install fluidsynth fluid-soundfont-gm)")
    import soundfile as sf

    names = args.only.split(",") if args.only else list(music_set.SETS[args.set])
    cache = Path(args.cache) if args.cache else Path(tempfile.mkdtemp(prefix="lp-music-set-"))
    cache.mkdir(parents=True, exist_ok=True)
    tracks, audio = {}, {}
    for n in names:
        t = music_set.build(n, args.seconds)
        # (keyed on the notes too: a changed track is rendered again, never read from an old file)
        notes = repr([(x.time, x.dur, x.channel, x.pitch, x.velocity) for x in t.notes]).encode()
        wav = cache / f"{n}.{int(args.seconds)}s.{hashlib.sha1(notes).hexdigest()[:10]}.wav"
        if wav.exists():
            x, _ = sf.read(str(wav), dtype="float32")
        else:
            x = music_set.render(t, args.seconds, cache)
            sf.write(str(wav), x, music_set.SR, subtype="FLOAT")   # (16 bits would not be the render)
        tracks[n], audio[n] = t, x

    makers = {"today": lambda: _system_today(args.baseline), "live": _system_live,
              "comb": _system_tracker("comb"), "net": _system_tracker("net"),
              "librosa": _system_librosa, "madmom": _system_madmom}
    systems, results, cpu = [], {}, {}
    for s in args.systems.split(","):
        try:
            run = makers[s]()
        except Exception as e:   # a library that does not install here: say so, go on
            print(f"{s}: not run ({type(e).__name__}: {e})", file=sys.stderr)
            continue
        systems.append(s)
        results[s], cpu[s] = {}, 0.0
        for n in names:
            c = time.process_time()
            res = run(audio[n], music_set.SR)
            cpu[s] += time.process_time() - c
            results[s][n] = score(tracks[n], res)
    total = sum(len(audio[n]) for n in names) / music_set.SR
    print(f"{len(names)} tracks, {total:.0f} s of audio at {music_set.SR} Hz "
          f"(today = {args.baseline})")
    table(systems, tracks, results, cpu, total)
    if args.per_track:
        per_track(systems, tracks, results)


if __name__ == "__main__":
    main()
