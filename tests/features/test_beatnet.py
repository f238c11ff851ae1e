"""The beat network and its state space (features/beatnet.py): the numpy network against torch's
GRU on the same weights, the state space on activations with a known beat, the shipped weights,
and the choice between the network and the comb tracker on real renders."""

from __future__ import annotations

import numpy as np
import pytest

from latentperform.features import AudioAnalyzer, beatnet
from latentperform.features.beat import BeatTracker


def test_the_numpy_network_is_torchs_gru():
    torch = pytest.importorskip("torch")
    torch.manual_seed(1)
    inp, gru, out = torch.nn.Linear(12, 5), torch.nn.GRU(5, 5, batch_first=True), torch.nn.Linear(5, 1)
    weights = {f"inp.{k}": v.detach().numpy() for k, v in inp.state_dict().items()}
    weights |= {f"gru.{k}": v.detach().numpy() for k, v in gru.state_dict().items()}
    weights |= {f"out.{k}": v.detach().numpy() for k, v in out.state_dict().items()}
    x = torch.randn(1, 40, 12)
    with torch.no_grad():
        ref = torch.sigmoid(out(gru(torch.tanh(inp(x)))[0])).numpy()[0, :, 0]
    net = beatnet.BeatActivation(weights)
    ours = np.array([net.step(v) for v in x[0].numpy().astype(np.float64)])
    assert np.max(np.abs(ours - ref)) < 1e-6


@pytest.mark.parametrize("bpm", [70.0, 96.0, 128.0, 174.0])
def test_the_state_space_follows_a_clear_beat(bpm):
    fr = 44100 / 512
    dbn = beatnet.BeatDBN(fr)
    period = 60.0 * fr / bpm
    frames = int(20 * fr)
    beats_at = np.arange(0.3 * fr, frames - 1, period)
    act = np.full(frames, 0.02)
    act[np.round(beats_at).astype(int)] = 0.95
    out = [dbn.push(a) for a in act]
    tempo = dbn.bpm
    assert abs(tempo - bpm) < 0.01 * bpm, tempo
    emitted = np.flatnonzero(out)
    late = emitted[emitted > 8 * fr]
    # every beat after 8 s lands within two frames of an impulse (lag_frames = 1 after it)
    d = np.array([np.min(np.abs(beats_at - e)) for e in late])
    assert len(late) >= int(11 * bpm / 60) and np.all(d <= 2.0), d


def test_the_shipped_weights_load_without_pickle_and_fit_the_features():
    assert beatnet.WEIGHTS.exists()
    with np.load(beatnet.WEIGHTS, allow_pickle=False) as w:
        assert w["inp.weight"].shape[1] == 3 * beatnet.BANDS
        assert all(np.all(np.isfinite(w[k])) for k in w.files)
    net = beatnet.BeatActivation()
    p = net.step(np.zeros(3 * beatnet.BANDS))
    assert 0.0 <= p <= 1.0


def test_which_tracker_the_analyzer_uses():
    for sr in (44100, 48000):   # every show at these rates: the choice between the two
        assert isinstance(AudioAnalyzer(sr).beat_tracker, beatnet.BeatChoice), sr
        assert isinstance(AudioAnalyzer(sr).beat_tracker.comb, BeatTracker), sr
        assert isinstance(AudioAnalyzer(sr, beats="net").beat_tracker, beatnet.NetBeatTracker), sr
        assert isinstance(AudioAnalyzer(sr, beats="comb").beat_tracker, BeatTracker), sr
    for sr in (16000, 96000):   # layouts the network was not trained for: the comb tracker
        for beats in ("choice", "net"):
            assert isinstance(AudioAnalyzer(sr, beats=beats).beat_tracker, BeatTracker), (sr, beats)
    with pytest.raises(ValueError):
        AudioAnalyzer(44100, beats="madmom")


def _render(name: str, seconds: float):
    from bench import music_set
    if not music_set.can_render():
        pytest.skip("needs fluidsynth and fluid-soundfont-gm")
    track = music_set.build(name, seconds)
    return track, music_set.render(track, seconds), music_set.SR


def _choice_run(x, sr):
    """Frames, and for each frame whether the network answered."""
    a = AudioAnalyzer(sr)
    frames, net = [], []
    for i in range(0, len(x), 512):
        got = a.process(x[i:i + 512])
        frames += got
        net += [a.beat_tracker.use_net] * len(got)
    return frames, np.array(net)


def test_the_choice_answers_with_the_network_on_a_groove_and_the_comb_on_a_chorale():
    mir_eval = pytest.importorskip("mir_eval")
    for name, seconds, network in (("house120", 12.0, True), ("chorale84", 14.0, False)):
        track, x, sr = _render(name, seconds)
        frames, net = _choice_run(x, sr)
        t = np.array([f.time for f in frames])
        assert np.mean(net[t >= 5.0] == network) >= 0.95, (name, np.mean(net[t >= 5.0]))
        beats = t[np.array([f.beat for f in frames], bool)]
        ref, est = mir_eval.beat.trim_beats(track.beats, 5.0), mir_eval.beat.trim_beats(beats, 5.0)
        # (the network alone: the chorale F 0.34 over 30 s; the comb tracker alone 1.00)
        assert mir_eval.beat.f_measure(ref, est) >= 0.9, name
        tempo = np.array([f.tempo for f in frames])[t >= 6.0]
        assert np.all(np.abs(tempo - track.bpm[0]) <= 0.04 * track.bpm[0]), (name, tempo.min(), tempo.max())


def test_the_choice_holds_the_prior_tempo_in_silence():
    """Before any music the network hears no beats: the tempo is the prior, 120, and not locked
    (the network's state space alone wanders between 60 and 200 there)."""
    frames, net = _choice_run(np.zeros(6 * 44100, np.float32), 44100)
    assert net.all()
    assert all(f.tempo == 120.0 for f in frames)
    assert not any(f.beat for f in frames)


def test_a_switch_between_the_trackers_never_doubles_a_beat():
    """A chorale, then a groove: the answer moves from the comb tracker to the network; beats
    stay at least half a beat apart, none is lost at the switch, and the beat position stays
    unwrapped (a re-alignment, at a switch or within a tracker, moves it by at most half a beat,
    never by a whole one)."""
    _, a, sr = _render("chorale84", 10.0)
    _, b, _ = _render("house120", 12.0)
    frames, net = _choice_run(np.concatenate([a, b]), sr)
    t = np.array([f.time for f in frames])
    assert not net[(t > 5.0) & (t < 10.0)].any() and net[t > 15.0].all()
    beat_t = t[np.array([f.beat for f in frames], bool)]
    gaps = np.diff(beat_t)
    assert len(beat_t) > 20 and gaps.min() >= 0.5 * 60.0 / 125.0, gaps.min()
    # none lost: the first switch (network -> comb) falls in the chorale's first seconds, the
    # second (comb -> network) in the groove's (the gap at the change of music itself, where the
    # comb tracker still runs at 84, is not a switch's)
    for lo, hi, bpm in ((2.0, 10.0, 84.0), (13.0, 22.0, 120.0)):
        inside = beat_t[(beat_t > lo) & (beat_t < hi)]
        assert np.diff(inside).max() <= 1.5 * 60.0 / bpm, np.round(inside, 2)
    position = np.array([f.raw["beat_position"] for f in frames])
    step = np.diff(position)
    assert step.min() >= -0.5 and step.max() <= 0.5, (step.min(), step.max())
    assert position[-1] - position[0] > 0.9 * len(beat_t)
    tempo = np.array([f.tempo for f in frames])
    assert np.all(np.abs(tempo[t > 17.0] - 120.0) <= 0.04 * 120.0)


def test_the_network_tracker_on_a_real_groove():
    """A short real render (bench/music_set.py's house groove, fluidsynth): the network's beats
    are right (the comb tracker's floor in test_real_music.py is F 0.9)."""
    mir_eval = pytest.importorskip("mir_eval")
    track, x, sr = _render("house120", 14.0)
    a = AudioAnalyzer(sr, beats="net")
    frames = a.process(x)
    t = np.array([f.time for f in frames])
    beats = t[np.array([f.beat for f in frames], bool)]
    ref, est = mir_eval.beat.trim_beats(track.beats, 5.0), mir_eval.beat.trim_beats(beats, 5.0)
    assert mir_eval.beat.f_measure(ref, est) >= 0.95
    assert mir_eval.beat.continuity(ref, est)[1] >= 0.9
    assert all("beat_activation" in f.raw for f in frames[-3:])
