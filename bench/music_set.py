"""A real-music set for the beat tracker: grooves written here and music21 corpus pieces, rendered
with fluidsynth and a General MIDI soundfont, with the true beats taken from the score.

    python bench/music_set.py [--out DIR] [--only NAME,...] [--seconds 30]

writes DIR/NAME.mid, DIR/NAME.wav and DIR/NAME.beats.txt (one true beat time a line) for each
track and prints the list.  The audio is never kept in the repository: bench/beats.py and
tests/features/test_real_music.py render what they need (a few seconds per track) into a temporary
folder.  Needs the `fluidsynth` program and a GM soundfont (Debian: fluidsynth fluid-soundfont-gm);
music21 only for the corpus pieces.

Every note is placed in seconds on the track's own tempo map, so the truth is exact: a beat is a
quarter note in x/4 (a half bar in 2/4 counts two), a dotted quarter in 6/8; grooves get a few ms of
random timing jitter and velocity variation, as played music has, but the beats are the grid.

Tracks (NAME: what it tests):
  house120     4/4 house: kick on the beats, open hats and bass on the off-beats, claps on 2 and 4
  funk140      syncopated kick, 16th hats: the one the old tracker halved
  rock96       backbeat with 8th hats
  swing160     jazz ride in swung 8ths, walking bass, comping off the beat
  hiphop78     swung 16ths, syncopated kick
  dnb174       drum and bass breakbeat, 174 bpm
  latin104     son clave, piano montuno on the off-beats, tumbao bass
  ballad70     piano and slow strings, soft attacks
  waltz108     3/4 oom-pah-pah on piano
  sixeight72   6/8 arpeggios (dotted-quarter beat 72)
  chorale84    Bach chorale BWV 66.6 on a church organ (soft attacks)
  strings76    Bach chorale BWV 4.8 on a string ensemble (soft attacks)
  mozart132    Mozart K. 545 i on piano (the sonata the old tracker flipped on)
  haydn_minuet Haydn op. 74 no. 1 iii, a 3/4 minuet, string quartet
  rag100       Joplin, Maple Leaf Rag (2/4, syncopated), piano
  jig110       an Irish jig (6/8) from O'Neill's 1850 on fiddle and guitar chords
  change_rock  rock backbeat, 100 bpm then 130 bpm (tempo change at 12 s)
  change_mozart Mozart K. 545 i, 126 bpm then 96 bpm (at 14 s)

HELD_OUT: 17 more tracks nothing was tuned on (other tempi and seeds of the grooves, other corpus
pieces: Bach BWV 2.6 on organ, Mozart K. 155 i and K. 80 iii and Haydn op. 1 no. 1 i (6/8) for
string quartet, Chopin's mazurka op. 6 no. 2 and Schubert's Lindenbaum on piano, a rock
90 -> 120 bpm change at 14 s).
"""

from __future__ import annotations

import argparse
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SOUNDFONTS = ("/usr/share/sounds/sf2/FluidR3_GM.sf2", "/usr/share/sounds/sf2/default-GM.sf2")
SR = 44100
DRUMS = 9   # MIDI channel 10

# GM drum keys
KICK, RIM, SNARE, CLAP, CHH, PHH, OHH, CRASH, RIDE, CLAVE, CONGA_HI, CONGA_LO, SHAKER = (
    36, 37, 38, 39, 42, 44, 46, 49, 51, 75, 63, 64, 70)
# GM programs
PIANO, EPIANO, ORGAN, GUITAR, FINGER_BASS, SYNTH_BASS, VIOLIN, VIOLA, CELLO, STRINGS, SLOW_STRINGS, \
    FLUTE, NYLON = 0, 4, 19, 27, 33, 38, 40, 41, 42, 48, 49, 73, 24


@dataclass
class Note:
    time: float        # seconds
    dur: float         # seconds
    channel: int
    pitch: int
    velocity: int


@dataclass
class Track:
    name: str
    notes: list[Note]
    programs: dict[int, int]           # channel -> GM program
    beats: np.ndarray                  # true beat times, seconds
    meter: str
    kind: str                          # drums / piano / strings / organ / mix: for the onset table
    changes: list[float] = field(default_factory=list)   # times of tempo changes
    bpm: list[float] = field(default_factory=list)       # the tempo of each section

    @property
    def start(self) -> float:
        return min(n.time for n in self.notes)

    @property
    def onsets(self) -> np.ndarray:
        """Note-on times, merged within 30 ms (a chord, or kick and hat together, is one onset)."""
        t = np.sort(np.array([n.time for n in self.notes]))
        keep = [t[0]]
        for x in t[1:]:
            if x - keep[-1] > 0.03:
                keep.append(x)
        return np.array(keep)


# ---------------------------------------------------------------------------- a tempo map

class TempoMap:
    """Beats -> seconds, for sections of constant tempo: [(first beat, bpm), ...]."""

    def __init__(self, sections, start: float = 0.5) -> None:
        self.sections = sorted(sections)
        self.start = start
        self._t0 = [start]
        for (b0, bpm), (b1, _) in zip(self.sections, self.sections[1:]):
            self._t0.append(self._t0[-1] + (b1 - b0) * 60.0 / bpm)

    def __call__(self, beat: float) -> float:
        i = max(j for j, (b0, _) in enumerate(self.sections) if b0 <= beat or j == 0)
        b0, bpm = self.sections[i]
        return self._t0[i] + (beat - b0) * 60.0 / bpm

    def change_times(self) -> list[float]:
        return self._t0[1:]


def _beats_until(tmap: TempoMap, seconds: float) -> np.ndarray:
    out, b = [], 0
    while tmap(b) < seconds:
        out.append(tmap(b))
        b += 1
    return np.array(out)


class _Writer:
    """Notes on a beat grid with optional swing, a little timing jitter and velocity spread."""

    def __init__(self, tmap: TempoMap, seconds: float, seed: int, jitter: float = 0.004) -> None:
        self.tmap, self.seconds = tmap, seconds
        self.rng = np.random.default_rng(seed)
        self.jitter = jitter
        self.notes: list[Note] = []

    def add(self, beat: float, length_beats: float, channel: int, pitch: int, velocity: int,
            swing: float = 0.5, subdivision: float = 0.5) -> None:
        """A note at `beat`; with swing > 0.5 the off-subdivisions move later (0.667: triplet swing)."""
        # swing acts on pairs of `subdivision` notes: the second of each pair is delayed
        pair = beat / (2 * subdivision)
        pair_whole = np.floor(pair + 1e-9)
        if abs(pair - pair_whole - 0.5) < 1e-6:
            beat = (pair_whole + swing) * 2 * subdivision
        t = self.tmap(beat) + float(self.rng.normal(0.0, self.jitter))
        if t >= self.seconds:
            return
        end = self.tmap(beat + length_beats)
        v = int(np.clip(velocity + self.rng.normal(0, 5), 1, 127))
        self.notes.append(Note(max(0.0, t), max(0.02, end - t), channel, pitch, v))

    def pattern(self, bars: int, beats_per_bar: int, steps: str, step: float, channel: int,
                pitch: int, velocity: int, length: float = 0.1, swing: float = 0.5,
                accent: int = 0) -> None:
        """A drum-machine row: `steps` has one char per step ('x' hit, 'X' accented, '.' rest)."""
        per_bar = beats_per_bar / step
        for bar in range(bars):
            for i in range(int(per_bar)):
                c = steps[i % len(steps)]
                if c in "xX":
                    self.add(bar * beats_per_bar + i * step, length, channel, pitch,
                             velocity + (accent if c == "X" else 0), swing=swing, subdivision=step)


def _track(name, w: _Writer, programs, meter, kind, tmap: TempoMap) -> Track:
    return Track(name, sorted(w.notes, key=lambda n: n.time), programs,
                 _beats_until(tmap, w.seconds), meter, kind, tmap.change_times(),
                 [bpm for _, bpm in tmap.sections])


def _bars(tmap: TempoMap, seconds: float, beats_per_bar: int) -> int:
    return int(len(_beats_until(tmap, seconds + 2.0)) // beats_per_bar) + 1


# ---------------------------------------------------------------------------- grooves

def house120(seconds=30.0, seed=1, bpm=120.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.002)
    bars = _bars(tm, seconds, 4)
    w.pattern(bars, 4, "x...", 0.25, DRUMS, KICK, 112)
    w.pattern(bars, 4, "..x.", 0.25, DRUMS, OHH, 100, length=0.25)
    w.pattern(bars, 4, "....x.......x...", 0.25, DRUMS, CLAP, 95)
    w.pattern(bars, 4, "x.xx", 0.25, DRUMS, CHH, 55)
    roots = [33, 33, 36, 31]   # A1 A1 C2 G1: a bass note on every off-beat
    for bar in range(bars):
        for b in range(4):
            w.add(bar * 4 + b + 0.5, 0.4, 1, roots[bar % 4] + 12, 105)
    for bar in range(bars):   # a chord stab on the "and" of 2 and on 4
        for b, ln in ((1.5, 0.3), (3.0, 0.3)):
            for p in (57, 60, 64):
                w.add(bar * 4 + b, ln, 2, p + (roots[bar % 4] - 33), 70)
    return _track("house120", w, {1: SYNTH_BASS, 2: EPIANO}, "4/4", "drums", tm)


def funk140(seconds=30.0, seed=2, bpm=140.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed)
    bars = _bars(tm, seconds, 4)
    w.pattern(bars, 4, "x.x.....x.x..x..", 0.25, DRUMS, KICK, 110)
    w.pattern(bars, 4, "....X.......X..x", 0.25, DRUMS, SNARE, 90, accent=20)
    w.pattern(bars, 4, "Xxxx", 0.25, DRUMS, CHH, 60, accent=25)
    riff = [(0, 40, 0.2), (0.75, 40, 0.2), (1.5, 43, 0.2), (2.0, 40, 0.3), (2.75, 45, 0.2), (3.5, 47, 0.2)]
    for bar in range(bars):
        for b, p, ln in riff:
            w.add(bar * 4 + b, ln, 1, p, 100)
        for b in (0.5, 1.75, 2.5, 3.25):   # guitar chops on the 16ths in between
            for p in (64, 67, 71):
                w.add(bar * 4 + b, 0.1, 2, p, 75)
    return _track("funk140", w, {1: FINGER_BASS, 2: GUITAR}, "4/4", "drums", tm)


def rock(name="rock96", sections=((0, 96.0),), seconds=30.0, seed=3):
    tm = TempoMap(list(sections))
    w = _Writer(tm, seconds, seed)
    bars = _bars(tm, seconds, 4)
    w.pattern(bars, 4, "x.....x.x.......", 0.25, DRUMS, KICK, 110)
    w.pattern(bars, 4, "....x.......x...", 0.25, DRUMS, SNARE, 105)
    w.pattern(bars, 4, "Xx", 0.5, DRUMS, CHH, 70, accent=15)
    roots = [40, 45, 43, 38]
    for bar in range(bars):
        r = roots[bar % 4]
        for e in range(8):
            w.add(bar * 4 + e * 0.5, 0.45, 1, r, 95)
        for b in (0, 2):
            for p in (r + 24, r + 31, r + 36):
                w.add(bar * 4 + b, 1.9, 2, p, 70)
        if bar % 8 == 0:
            w.add(bar * 4, 2.0, DRUMS, CRASH, 100)
    return _track(name, w, {1: FINGER_BASS, 2: GUITAR}, "4/4", "drums", tm)


def swing160(seconds=30.0, seed=4, bpm=160.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.006)
    bars = _bars(tm, seconds, 4)
    w.pattern(bars, 4, "x.xxx.xx", 0.5, DRUMS, RIDE, 80, swing=0.667)
    w.pattern(bars, 4, "..x...x.", 0.5, DRUMS, PHH, 70)
    w.pattern(bars, 4, "x.......", 0.5, DRUMS, KICK, 45)
    walk = [36, 40, 43, 45, 41, 45, 48, 50, 43, 47, 50, 52, 36, 43, 40, 38]
    for bar in range(bars):
        for b in range(4):
            w.add(bar * 4 + b, 0.9, 1, walk[(bar * 4 + b) % len(walk)], 95)
        for b in (1.5, 3.5) if bar % 2 else (0.5, 2.5):   # comping on the swung "and"s
            for p in (64, 67, 70, 74):
                w.add(bar * 4 + b, 0.4, 2, p - (5 if bar % 2 else 0), 62, swing=0.667)
    return _track("swing160", w, {1: 32, 2: PIANO}, "4/4", "mix", tm)


def hiphop78(seconds=30.0, seed=5, bpm=78.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.006)
    bars = _bars(tm, seconds, 4)
    w.pattern(bars, 4, "x......x.xx.....", 0.25, DRUMS, KICK, 115, swing=0.6)
    w.pattern(bars, 4, "....x.......x...", 0.25, DRUMS, SNARE, 108)
    w.pattern(bars, 4, "xxXx", 0.25, DRUMS, CHH, 55, swing=0.6, accent=20)
    for bar in range(bars):
        for b, p in ((0, 38), (1.75, 38), (2.5, 41), (3.5, 36)):
            w.add(bar * 4 + b, 0.6, 1, p, 105, swing=0.6, subdivision=0.25)
        for p in (62, 65, 69, 72):
            w.add(bar * 4, 3.5, 2, p, 55)
    return _track("hiphop78", w, {1: SYNTH_BASS, 2: EPIANO}, "4/4", "drums", tm)


def dnb174(seconds=30.0, seed=6, bpm=174.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.002)
    bars = _bars(tm, seconds, 4)
    w.pattern(bars, 4, "x.........x.....", 0.25, DRUMS, KICK, 115)
    w.pattern(bars, 4, "....x.......x..x", 0.25, DRUMS, SNARE, 105)
    w.pattern(bars, 4, "xx", 0.25, DRUMS, CHH, 55)
    for bar in range(bars):
        w.add(bar * 4, 3.8, 1, [33, 29, 31, 28][bar % 4], 100)
        for p in (57, 60, 64):
            w.add(bar * 4, 4.0, 2, p, 45)
    return _track("dnb174", w, {1: SYNTH_BASS, 2: SLOW_STRINGS}, "4/4", "drums", tm)


def latin104(seconds=30.0, seed=7, bpm=104.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.005)
    bars = _bars(tm, seconds, 4)
    # 3-2 son clave over two bars
    for bar in range(0, bars, 2):
        for b in (0.0, 1.5, 3.0):
            w.add(bar * 4 + b, 0.1, DRUMS, CLAVE, 95)
        for b in (1.0, 2.0):
            w.add((bar + 1) * 4 + b, 0.1, DRUMS, CLAVE, 95)
    w.pattern(bars, 4, "..x...xx", 0.5, DRUMS, CONGA_HI, 75)
    w.pattern(bars, 4, "x.......", 0.5, DRUMS, CONGA_LO, 80)
    w.pattern(bars, 4, "xxxx", 0.25, DRUMS, SHAKER, 50)
    for bar in range(bars):   # tumbao: the "and" of 2 and beat 4
        r = [41, 36, 43, 36][bar % 4]
        w.add(bar * 4 + 1.5, 1.4, 1, r, 100)
        w.add(bar * 4 + 3.0, 1.0, 1, r + 7, 95)
        for e in range(8):   # montuno, accents on the off-beats
            p = [65, 69, 72, 69][e % 4] + (0 if bar % 2 == 0 else -1)
            w.add(bar * 4 + e * 0.5, 0.4, 2, p, 80 if e % 2 else 60)
    return _track("latin104", w, {1: FINGER_BASS, 2: PIANO}, "4/4", "mix", tm)


def ballad70(seconds=30.0, seed=8, bpm=70.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.008)
    bars = _bars(tm, seconds, 4)
    chords = [(48, 55, 64, 67), (45, 52, 60, 64), (41, 48, 57, 60), (43, 50, 59, 62)]
    for bar in range(bars):
        c = chords[bar % 4]
        w.add(bar * 4, 4.0, 2, c[0] - 12, 60)
        for p in c[1:]:
            w.add(bar * 4, 4.0, 2, p, 55)
        for e in range(8):   # piano in 8ths, beat notes stronger
            w.add(bar * 4 + e * 0.5, 0.5, 1, c[1 + e % 3] + 12, 70 if e % 2 == 0 else 50)
        w.add(bar * 4, 2.0, 1, c[0], 75)
        w.add(bar * 4 + 2, 2.0, 1, c[0] + 7, 65)
    return _track("ballad70", w, {1: PIANO, 2: SLOW_STRINGS}, "4/4", "mix", tm)


def waltz108(seconds=30.0, seed=9, bpm=108.0):
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.006)
    bars = _bars(tm, seconds, 3)
    harmony = [(36, (52, 55, 60)), (43, (53, 55, 59)), (43, (53, 55, 59)), (36, (52, 55, 60)),
               (41, (57, 60, 65)), (36, (55, 60, 64)), (43, (55, 59, 62)), (36, (52, 55, 60))]
    tune = [72, 76, 79, 77, 74, 71, 72, 67, 69, 72, 74, 71]
    for bar in range(bars):
        bass, chord = harmony[bar % len(harmony)]
        w.add(bar * 3, 0.9, 1, bass, 85)
        for b in (1, 2):
            for p in chord:
                w.add(bar * 3 + b, 0.5, 1, p, 55)
        w.add(bar * 3, 1.9, 1, tune[bar % len(tune)], 78)
        w.add(bar * 3 + 2, 0.9, 1, tune[(bar + 1) % len(tune)] - 2, 68)
    return _track("waltz108", w, {1: PIANO}, "3/4", "piano", tm)


def sixeight72(seconds=30.0, seed=10, bpm=72.0):
    # a beat is a dotted quarter: three eighth-note arpeggio steps per beat
    tm = TempoMap([(0, bpm)])
    w = _Writer(tm, seconds, seed, jitter=0.006)
    bars = _bars(tm, seconds, 2)
    chords = [(45, 57, 60, 64), (41, 57, 60, 65), (48, 55, 60, 64), (43, 55, 59, 62)]
    for bar in range(bars):
        c = chords[bar % 4]
        for beat in range(2):
            w.add(bar * 2 + beat, 0.95, 1, c[0] if beat == 0 else c[0] + 7, 85 if beat == 0 else 72)
            for i, p in enumerate((c[1], c[2], c[3])):
                w.add(bar * 2 + beat + i / 3, 1 / 3, 2, p + 12, 62 if i else 72)
    return _track("sixeight72", w, {1: FINGER_BASS, 2: NYLON}, "6/8", "mix", tm)


# ---------------------------------------------------------------------------- corpus pieces

def _corpus(name: str, work: str, number: int | None, bpm_sections, seconds: float,
            programs_by_part, kind: str, max_parts: int = 4, transpose: int = 0) -> Track:
    """A music21 corpus work on the tempo map bpm_sections [(first beat, bpm)]; part i plays on
    channel i with programs_by_part[i] (the last one repeats)."""
    from music21 import corpus

    score = corpus.parse(work, number=number) if number is not None else corpus.parse(work)
    parts = list(score.parts)[:max_parts]
    ts = score.recurse().getElementsByClass("TimeSignature").first()
    beat_q = float(ts.beatDuration.quarterLength)      # quarters per beat
    # a pickup bar: the first measure shorter than a full bar starts the beats that much later
    first = parts[0].getElementsByClass("Measure").first()
    pickup = 0.0
    if first is not None and first.paddingLeft:
        pickup = float(first.paddingLeft)
    tm = TempoMap([(b, bpm) for b, bpm in bpm_sections])
    notes: list[Note] = []
    programs = {}
    # an excerpt shorter than `seconds` is played again from the bar line after its end, as its
    # repeat marks mostly ask (K. 545's exposition at 132 bpm lasts 22 s, the jig's tune 19 s);
    # a pickup comes again in the last bar, where the first bar's pickup sat
    bar_q = float(ts.barDuration.quarterLength)
    length_q = np.ceil(float(score.highestTime) / bar_q - 1e-6) * bar_q
    for i, part in enumerate(parts):
        ch = i if i < DRUMS else i + 1
        programs[ch] = programs_by_part[min(i, len(programs_by_part) - 1)]
        for el in part.flatten().notes:
            pitches = [p.midi for p in el.pitches]
            vel = 80
            if el.volume is not None and el.volume.velocity:
                vel = int(el.volume.velocity)
            q0 = float(el.getOffsetInHierarchy(part)) + pickup
            for q in q0 + length_q * np.arange(64):
                t = tm(q / beat_q)
                if t >= seconds:
                    break
                end = tm((q + float(el.quarterLength)) / beat_q)
                for p in pitches:
                    notes.append(Note(t, max(0.03, end - t - 0.01), ch, p + transpose, vel))
    notes.sort(key=lambda n: n.time)
    start_beat = 0.0
    # the beats run from the first bar line (the first downbeat, or the pickup's first beat)
    beats = []
    b = start_beat
    while tm(b) < seconds:
        beats.append(tm(b))
        b += 1
    beats = np.array(beats)
    # ... up to the end of the music (no beats after the last note)
    end = max(n.time + n.dur for n in notes)
    beats = beats[(beats >= notes[0].time - 1e-6) & (beats <= end + 1e-6)]
    return Track(name, notes, programs, beats, ts.ratioString, kind, tm.change_times(),
                 [bpm for _, bpm in tm.sections])


def chorale84(seconds=30.0):
    return _corpus("chorale84", "bach/bwv66.6", None, [(0, 84.0)], seconds, [ORGAN], "organ")


def strings76(seconds=30.0):
    return _corpus("strings76", "bach/bwv4.8", None, [(0, 76.0)], seconds, [STRINGS], "strings")


def mozart132(seconds=30.0):
    return _corpus("mozart132", "mozart/k545/movement1_exposition", None, [(0, 132.0)], seconds,
                   [PIANO], "piano")


def haydn_minuet(seconds=30.0):
    return _corpus("haydn_minuet", "haydn/opus74no1/movement3", None, [(0, 150.0)], seconds,
                   [VIOLIN, VIOLIN, VIOLA, CELLO], "strings")


def rag100(seconds=30.0):
    return _corpus("rag100", "joplin/maple_leaf_rag", None, [(0, 100.0)], seconds, [PIANO], "piano")


def jig110(seconds=30.0):
    t = _corpus("jig110", "oneills1850/0001-0050.abc", 46, [(0, 110.0)], seconds, [VIOLIN], "strings")
    # a guitar on the dotted-quarter beats under the tune (folk accompaniment)
    for i, b in enumerate(t.beats):
        for p in ((50, 57, 62) if (i // 4) % 2 == 0 else (45, 52, 57)):
            t.notes.append(Note(float(b), 0.25, 1, p, 60 if i % 2 else 78))
    t.programs[1] = NYLON
    t.notes.sort(key=lambda n: n.time)
    return t


def change_rock(seconds=30.0):
    # 20 bars... the change lands at 12 s: 20 beats at 100 bpm = 12 s
    return rock("change_rock", ((0, 100.0), (20, 130.0)), seconds, seed=11)


def change_mozart(seconds=30.0):
    # 30 beats at 126 bpm = 14.3 s, then 96 bpm
    return _corpus("change_mozart", "mozart/k545/movement1_exposition", None,
                   [(0, 126.0), (30, 96.0)], seconds, [PIANO], "piano")


TRACKS = {f.__name__: f for f in (house120, funk140, lambda seconds=30.0: rock(seconds=seconds),
                                  swing160, hiphop78, dnb174, latin104, ballad70, waltz108,
                                  sixeight72, chorale84, strings76, mozart132, haydn_minuet, rag100,
                                  jig110, change_rock, change_mozart)}
TRACKS["rock96"] = TRACKS.pop("<lambda>")
STEADY = [n for n in TRACKS if not n.startswith("change_")]


# ---------------------------------------------------------------------------- a held-out set

def _variant(make, title: str, **kw):
    """Another take of a groove: other tempo, other random timing and velocities."""
    def variant(seconds=30.0):
        t = make(seconds=seconds, **kw)
        t.name = title
        return t
    variant.__name__ = title
    return variant


def _piece(name, work, bpm, programs, kind, number=None):
    def piece(seconds=30.0):
        return _corpus(name, work, number, [(0, bpm)], seconds, programs, kind)
    piece.__name__ = name
    return piece


# Tracks nothing here was tuned on (bench/beats.py --set heldout): the same kinds of groove at
# other tempi and seeds, other corpus pieces, another tempo change.
HELD_OUT = {f.__name__: f for f in (
    _variant(house120, "house126", seed=21, bpm=126.0),
    _variant(funk140, "funk128", seed=22, bpm=128.0),
    _variant(rock, "rock112", name="rock112", sections=((0, 112.0),), seed=23),
    _variant(swing160, "swing144", seed=26, bpm=144.0),
    _variant(hiphop78, "hiphop88", seed=25, bpm=88.0),
    _variant(dnb174, "dnb166", seed=24, bpm=166.0),
    _variant(latin104, "latin96", seed=27, bpm=96.0),
    _variant(ballad70, "ballad76", seed=28, bpm=76.0),
    _variant(waltz108, "waltz96", seed=29, bpm=96.0),
    _variant(sixeight72, "sixeight66", seed=30, bpm=66.0),
    _piece("chorale80", "bach/bwv2.6", 80.0, [ORGAN], "organ"),
    _piece("quartet120", "mozart/k155/movement1", 120.0, [VIOLIN, VIOLIN, VIOLA, CELLO], "strings"),
    _piece("minuet126", "mozart/k80/movement3", 126.0, [VIOLIN, VIOLIN, VIOLA, CELLO], "strings"),
    _piece("mazurka132", "chopin/mazurka06-2", 132.0, [PIANO], "piano"),
    _piece("lindenbaum84", "schubert/Lindenbaum", 84.0, [PIANO], "piano"),
    _piece("sixeight_haydn", "haydn/opus1no1/movement1", 100.0, [VIOLIN, VIOLIN, VIOLA, CELLO], "strings"),
    _variant(rock, "change_rock90", name="change_rock90", sections=((0, 90.0), (21, 120.0)), seed=31),
)}
SETS = {"main": TRACKS, "heldout": HELD_OUT}


# ---------------------------------------------------------------------------- MIDI and audio

def _vlq(n: int) -> bytes:
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def write_midi(track: Track, path: str | Path) -> None:
    """A format-0 standard MIDI file: 480 ticks a quarter at 120 bpm, so a tick is 1/960 s and
    the notes keep their times exactly (the tempo map lives in the note times, not in the file)."""
    tpq, per_s = 480, 960.0
    events = []   # (tick, order, bytes): note-offs before note-ons at the same tick
    for ch, prog in track.programs.items():
        events.append((0, 0, bytes([0xC0 | ch, prog])))
        events.append((0, 0, bytes([0xB0 | ch, 7, 110])))
    for n in track.notes:
        on = int(round(n.time * per_s))
        off = max(on + 1, int(round((n.time + n.dur) * per_s)))
        events.append((on, 2, bytes([0x90 | n.channel, n.pitch & 0x7F, max(1, min(127, n.velocity))])))
        events.append((off, 1, bytes([0x80 | n.channel, n.pitch & 0x7F, 0])))
    events.sort(key=lambda e: (e[0], e[1]))
    body = bytearray(b"\x00\xff\x51\x03" + (500000).to_bytes(3, "big"))
    last = 0
    for tick, _, data in events:
        body += _vlq(tick - last) + data
        last = tick
    body += b"\x00\xff\x2f\x00"
    with open(path, "wb") as f:
        f.write(b"MThd" + struct.pack(">IHHH", 6, 0, 1, tpq))
        f.write(b"MTrk" + struct.pack(">I", len(body)) + bytes(body))


def soundfont() -> str | None:
    for p in SOUNDFONTS:
        if Path(p).exists():
            return p
    return None


def can_render() -> bool:
    return shutil.which("fluidsynth") is not None and soundfont() is not None


def render(track: Track, seconds: float, folder: str | Path | None = None, sr: int = SR) -> np.ndarray:
    """The track through fluidsynth: mono float32 at sr, cut to `seconds`."""
    import soundfile as sf

    tmp = None
    if folder is None:
        tmp = tempfile.TemporaryDirectory(prefix="lp-music-")
        folder = tmp.name
    folder = Path(folder)
    mid, wav = folder / f"{track.name}.mid", folder / f"{track.name}.wav"
    write_midi(track, mid)
    subprocess.run(["fluidsynth", "-ni", "-q", "-g", "0.5", "-r", str(sr), "-F", str(wav),
                    soundfont(), str(mid)], check=True, capture_output=True, timeout=120)
    x, got = sf.read(str(wav), dtype="float32", always_2d=True)
    if tmp is not None:
        tmp.cleanup()
    assert got == sr, (got, sr)
    return np.ascontiguousarray(x[: int(seconds * sr)].mean(axis=1))


def build(name: str, seconds: float = 30.0) -> Track:
    return (TRACKS.get(name) or HELD_OUT[name])(seconds=seconds)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="/tmp/lp-music-set")
    ap.add_argument("--only", default="")
    ap.add_argument("--seconds", type=float, default=30.0)
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import soundfile as sf

    for name in (args.only.split(",") if args.only else TRACKS):
        t = build(name, args.seconds)
        x = render(t, args.seconds, out)
        sf.write(str(out / f"{name}.wav"), x, SR)
        np.savetxt(out / f"{name}.beats.txt", t.beats, fmt="%.4f")
        print(f"{name:14s} {t.meter:4s} {'/'.join(f'{b:g}' for b in t.bpm):>8s} bpm  "
              f"{len(t.beats):3d} beats  {len(t.onsets):4d} onsets  {t.kind}")


if __name__ == "__main__":
    main()
