"""The beat tracker on real music: short fluidsynth renders of bench/music_set.py tracks (a GM
soundfont, truth from the score), scored with mir_eval.  The floors are what the tracker reaches
on these renders with a margin (bench/beats.py prints the full set); the old tracker failed the
house groove outright (F 0.00: it locked to the off-beat hats and bass).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench import music_set
from latentperform.features import analyze_frames

pytestmark = pytest.mark.skipif(not music_set.can_render(),
                                reason="needs fluidsynth and fluid-soundfont-gm")
mir_eval = pytest.importorskip("mir_eval")


def _run(name: str, seconds: float):
    track = music_set.build(name, seconds)
    x = music_set.render(track, seconds)
    frames = analyze_frames(x, music_set.SR)
    t = np.array([f.time for f in frames])
    beats = t[np.array([f.beat for f in frames], bool)]
    tempo = np.array([f.tempo for f in frames])
    ONSETS[name] = t[np.array([f.onset_event for f in frames], bool)]
    return track, t, beats, tempo


ONSETS: dict[str, np.ndarray] = {}   # each render's detected onsets, for the onset tests


def _onsets(name: str, seconds: float):
    """(precision, recall) of the onsets against every note of the score (50 ms, mir_eval)."""
    if name not in ONSETS:
        _run(name, seconds)
    track = music_set.build(name, seconds)
    _, p, r = mir_eval.onset.f_measure(track.onsets, ONSETS[name], window=0.05)
    return p, r


@pytest.fixture(scope="module")
def house():
    return _run("house120", 14.0)


@pytest.mark.parametrize("name, seconds, floor_p, floor_r", [
    # (the detector before issue 14 on the same renders: P/R 0.98/0.66, 0.95/0.95, 0.97/0.75, 0.50/0.05)
    ("house120", 14.0, 0.9, 0.75),    # soft closed hats between the kicks and the open hats
    ("waltz108", 12.0, 0.9, 0.95),    # piano: bass notes and chords
    ("mozart132", 10.0, 0.9, 0.9),    # piano: running sixteenths
    ("chorale84", 12.0, 0.7, 0.35),   # a church organ: soft attacks
])
def test_onsets_of_real_music(name, seconds, floor_p, floor_r, house):
    p, r = _onsets(name, seconds)
    assert p >= floor_p and r >= floor_r, (name, p, r)


def test_house_groove_beats_on_the_kick_not_the_off_beat(house):
    track, t, beats, tempo = house
    ref = mir_eval.beat.trim_beats(track.beats, 5.0)
    est = mir_eval.beat.trim_beats(beats, 5.0)
    assert mir_eval.beat.f_measure(ref, est) >= 0.9
    assert mir_eval.beat.continuity(ref, est)[1] >= 0.85   # CMLt: the right phase and tempo
    assert np.all(np.abs(tempo[t >= 5.0] - 120.0) <= 0.04 * 120.0)
    # on time: the matched beats within 30 ms of the kicks on average, neither side
    d = np.array([b - ref[np.argmin(np.abs(ref - b))] for b in est])
    assert abs(np.mean(d[np.abs(d) < 0.07])) < 0.03


def test_waltz_in_three_four_counts_quarter_notes():
    track, t, beats, tempo = _run("waltz108", 12.0)
    ref = mir_eval.beat.trim_beats(track.beats, 5.0)
    est = mir_eval.beat.trim_beats(beats, 5.0)
    assert mir_eval.beat.f_measure(ref, est) >= 0.9
    assert mir_eval.beat.continuity(ref, est)[1] >= 0.85
    # no 3/2 or 2/3 reading of the bar: the tempo stays at 108
    assert np.all(np.abs(tempo[t >= 5.0] - 108.0) <= 0.04 * 108.0)


def test_tempo_change_is_followed_within_seven_seconds():
    # rock, 100 bpm for 12 s, then 130 bpm
    track, t, beats, tempo = _run("change_rock", 22.0)
    change = track.changes[0]
    assert abs(change - 12.5) < 0.01   # (the groove starts at 0.5 s)
    before = tempo[(t >= 6.0) & (t < change)]
    assert np.all(np.abs(before - 100.0) <= 4.0)
    # the show's tracker: the beat network's state space reads a bar at half tempo for about a
    # second at 18.4 s here (after a weak beat; the comb tracker alone holds 130 all along, and the
    # 30 s render of bench/beats.py has no dip).  A known gap: the floor is 80 % of the frames
    # from 3 s after the change, and the last two seconds all at 130
    settled = tempo[t >= change + 3.0]
    assert np.mean(np.abs(settled - 130.0) <= 0.04 * 130.0) >= 0.8
    assert np.all(np.abs(tempo[t >= t[-1] - 2.0] - 130.0) <= 0.04 * 130.0)
    ref = track.beats[track.beats >= change + 6.5]
    est = beats[beats >= change + 6.5]
    assert mir_eval.beat.f_measure(ref, est) >= 0.85


def test_a_sonata_that_slows_from_126_to_96_is_followed():
    # Mozart K. 545 on piano, 126 bpm then 96 at 14.8 s: running sixteenths, whose threes line up
    # as well as their fours (before the comb weighed the grids' accents it read 128 for 10 s
    # after the change, and never re-locked; before it regrouped on the last beats' accents it
    # read 96 from 3.8 s after the change)
    track, t, beats, tempo = _run("change_mozart", 26.0)
    change = track.changes[0]
    assert abs(change - 14.79) < 0.01
    before = tempo[(t >= 6.0) & (t < change)]
    assert np.mean(np.abs(before - 126.0) <= 0.04 * 126.0) >= 0.8
    assert np.all(np.abs(tempo[t >= change + 3.0] - 96.0) <= 0.04 * 96.0)
    ref = track.beats[track.beats >= change + 3.0]
    est = beats[beats >= change + 3.0]
    assert mir_eval.beat.f_measure(ref, est) >= 0.9
    assert mir_eval.beat.continuity(ref, est)[1] >= 0.85


def test_drum_and_bass_at_174_is_read_at_174():
    # kick and snare alternate on the beats, as a slow backbeat's do on its eighths, and the comb
    # tracker alone reads 87 here: the show's tracker answers with the network, which hears
    # both alike (a rule that handed a doubled pulse to the comb on the low-band accents alone
    # read 87 too; bench/RESULTS.md)
    track, t, beats, tempo = _run("dnb174", 14.0)
    assert np.all(np.abs(tempo[t >= 6.0] - 174.0) <= 0.04 * 174.0), (tempo[t >= 6.0].min(), tempo[t >= 6.0].max())
    ref = mir_eval.beat.trim_beats(track.beats, 5.0)
    assert mir_eval.beat.f_measure(ref, mir_eval.beat.trim_beats(beats, 5.0)) >= 0.9
