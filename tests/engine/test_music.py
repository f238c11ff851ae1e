"""Musical time in the engine: tempo sources (audio, midi, link, tap, internal), phase lock,
the clock events mappings see, an offline render following its audio file's beats, and a real
capture: a click track played into a JACK dummy server drives a running headless engine."""

from __future__ import annotations

import math
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from latentperform.clock import FixedStepClock, WallClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import open_live_inputs, open_show
from latentperform.engine.music import LOCK_MAX_RATE, MusicalTime, MusicPart
from latentperform.events import ControlEvent, ParamState
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.patch.schema import AudioSection, ClockSection
from latentperform.render import HeadlessSurface

ROOT = Path(__file__).resolve().parents[2]
PLAYER = ROOT / "tests" / "inputs" / "test_audio.py"   # `python test_audio.py play BPM`: a click track to JACK


# -- a source that says where its beats are ------------------------------------------------------

def tracker_events(t0: float, t1: float, bpm: float, offset: float, rate: float = 93.75):
    """What a locked beat tracker sends between t0 and t1: tempo and phase every frame, a beat
    where the phase wraps.  Its beat k falls at offset + k * 60 / bpm."""
    out = []
    for t in np.arange(math.ceil(t0 * rate), math.ceil(t1 * rate)) / rate:
        pos = (t - offset) * bpm / 60.0
        out += [ControlEvent("audio", "audio/tempo", bpm, t),
                ControlEvent("audio", "audio/beat_phase", pos % 1.0, t)]
        if math.floor(pos) != math.floor(pos - bpm / 60.0 / rate):
            out.append(ControlEvent("audio", "audio/beat", 1.0, t))
    return out


def drive(music: MusicalTime, seconds: float, fps: float = 60.0, source=None, t_start: float = 0.0,
          bpm_param: float | None = None):
    """Tick a MusicalTime as the engine does; returns (times, beats, tempos)."""
    params = ParamState(values={"clock/bpm": bpm_param or music.tempo.bpm}, tempo=music.tempo.bpm)
    times, beats, tempos = [], [], []
    t_prev = t_start
    for k in range(1, int(seconds * fps) + 1):
        t = t_start + k / fps
        events = source(t_prev, t) if source else []
        params = music.update(params.evolve(time=t), t, events)
        times.append(t)
        beats.append(params.beat)
        tempos.append(params.tempo)
        t_prev = t
    return np.array(times), np.array(beats), np.array(tempos)


def clock_section(source: str, bpm: float = 120.0, beats_per_bar: int = 4) -> ClockSection:
    return ClockSection(source=source, bpm=bpm, beats_per_bar=beats_per_bar)


def test_audio_source_locks_tempo_and_phase_smoothly():
    music = MusicalTime(clock_section("audio", bpm=120))
    bpm, offset = 97.0, 0.137
    times, beats, tempos = drive(music, 12.0, source=lambda a, b: tracker_events(a, b, bpm, offset))
    assert music.synced and music.locks == 1
    assert np.all(np.abs(tempos[-60:] - bpm) < 1e-9)
    # the engine's beat lands on the tracker's beats: same phase, within 1 % of a beat
    ref = (times - offset) * bpm / 60.0
    err = (ref - beats + 0.5) % 1.0 - 0.5
    assert np.max(np.abs(err[-300:])) < 0.01, err[-5:]
    # never backwards; the one jump (the first lock) is forward and less than a beat
    steps = np.diff(beats)
    assert np.all(steps >= 0)
    assert np.sum(steps > 2.0 * 120 / 60 / 60) <= 1 and steps.max() < 1.0


def test_tracker_phase_corrections_are_followed_smoothly():
    """The tracker moves its grid by a fifth of a beat: the engine glides over, no jump."""
    music = MusicalTime(clock_section("audio"))
    bpm = 120.0

    def source(a, b):
        return tracker_events(a, b, bpm, 0.0 if b < 6.0 else 0.1)     # 0.1 s = 0.2 beat later

    times, beats, _ = drive(music, 10.0, source=source)
    after = times > 6.0
    dt_beats = np.diff(beats)[after[1:]]
    nominal = bpm / 60 / 60
    assert np.all(dt_beats >= (1 - LOCK_MAX_RATE) * nominal - 1e-9)
    assert np.all(dt_beats <= (1 + LOCK_MAX_RATE) * nominal + 1e-9)
    err = ((times - 0.1) * 2.0 - beats + 0.5) % 1.0 - 0.5
    assert abs(err[-1]) < 0.01                                          # and catches up within a few s
    assert music.locks == 1


def test_audio_source_lost_runs_on_at_the_last_tempo():
    music = MusicalTime(clock_section("audio", bpm=120))
    times, beats, tempos = drive(music, 14.0, source=lambda a, b: tracker_events(a, b, 90.0, 0.0) if b < 6 else [])
    assert not music.synced
    assert np.allclose(tempos[-10:], 90.0)
    assert np.allclose(np.diff(beats[-100:]), 90.0 / 60 / 60)


def test_midi_clock_source_locks_to_the_bar():
    music = MusicalTime(clock_section("midi", bpm=120, beats_per_bar=4))
    bpm, start = 132.0, 0.3

    def source(a, b):
        out = []
        for n in range(0, 64):
            t = start + n * 60 / bpm
            if a < t <= b:
                out += [ControlEvent("clock", "clock/beat", float(n), t),
                        ControlEvent("clock", "clock/midi/bpm", bpm, t)]
        return out

    times, beats, tempos = drive(music, 10.0, source=source)
    assert music.synced and tempos[-1] == pytest.approx(bpm)
    ref = (times - start) * bpm / 60
    bar_err = (ref - beats + 2.0) % 4.0 - 2.0       # the engine's bar lines up with the MIDI song position
    assert np.max(np.abs(bar_err[-200:])) < 0.02
    assert np.all(np.diff(beats) >= 0)
    # stop: the engine runs on freely
    music.observe([ControlEvent("clock", "clock/midi/stop", 1.0, 10.0)])
    assert music.reference(10.1) is None


class FakeLink:
    """A Link session's surface (what inputs/link.py's LinkSession offers)."""

    def __init__(self, bpm: float, phase_at_zero: float, clock) -> None:
        self.bpm, self.b0, self.clock, self.proposed, self.peers = bpm, phase_at_zero, clock, [], 1

    def state(self):
        return self.bpm, self.b0 + self.clock.now() * self.bpm / 60

    def set_tempo(self, bpm):
        self.proposed.append(bpm)
        self.bpm = bpm

    def close(self):
        pass


class StepClock:
    def __init__(self):
        self.t = 0.0

    def now(self):
        return self.t


def test_link_source_follows_the_session_and_sends_our_tempo_changes():
    music = MusicalTime(clock_section("link", bpm=120, beats_per_bar=4))
    clock = StepClock()
    music._clock = clock
    music.link = FakeLink(128.0, 2.5, clock)
    params = ParamState(values={"clock/bpm": 120.0}, tempo=120.0)
    for k in range(1, 301):
        clock.t = k / 60
        params = music.update(params.evolve(time=clock.t), clock.t)
    assert params.tempo == pytest.approx(128.0) and params.get("clock/bpm") == pytest.approx(128.0)
    link_beat = music.link.state()[1]
    assert abs((link_beat - params.beat + 2) % 4 - 2) < 0.01          # same place in the bar
    assert music.link.proposed == []                                  # following is not proposing
    # a tap / OSC tempo (the mapper writes clock/bpm) goes to the session
    clock.t += 1 / 60
    params = music.update(params.evolve(values={**params.values, "clock/bpm": 140.0}, time=clock.t), clock.t)
    assert music.link.proposed == [140.0]
    assert "Link peer" in music.status() and "locked" in music.status()


def test_link_events_are_the_grid_without_a_session_offline_and_in_step():
    """Offline (a render, an instance in step) source "link" follows clock/link events: (bpm,
    beat) at the event's time, sparse (a line between them); two instances given the same
    events at the same frames have the same musical time, frame for frame."""
    def run(fps=30.0):
        music = MusicalTime(clock_section("link", bpm=120, beats_per_bar=4))
        music.link_by_events = True
        params = ParamState(values={"clock/bpm": 120.0}, tempo=120.0)
        out = []
        for k in range(1, int(8 * fps) + 1):
            t = k / fps
            # the leader's Link: 96 bpm with beat 1.25 at t=0, then 132 bpm from t=4 (beat 7.65 there);
            # an event once a second and at the change, as instep sends them
            if k % int(fps) == 0 or k == int(4 * fps) + 1:
                bpm, beat = (96.0, 1.25 + t * 1.6) if t <= 4.0 else (132.0, 7.65 + (t - 4.0) * 2.2)
                events = [ControlEvent("link", "clock/link", (bpm, beat), t)]
            else:
                events = []
            params = music.update(params.evolve(time=t), t, events)
            out.append((t, params.tempo, params.beat))
        return out, music
    a, music = run()
    b, _ = run()
    assert a == b                                             # deterministic: the same on every instance
    by_t = {round(t, 6): (bpm, beat) for t, bpm, beat in a}
    assert by_t[3.5][0] == pytest.approx(96.0)
    assert abs((by_t[3.5][1] - (1.25 + 3.5 * 1.6) + 2) % 4 - 2) < 0.01     # locked to the bar
    assert by_t[7.5][0] == pytest.approx(132.0)
    assert abs((by_t[7.5][1] - (7.65 + 3.5 * 2.2) + 2) % 4 - 2) < 0.01
    assert "from clock/link events" in music.status() and music.synced
    # no event for LINK_LOST_S: the grid runs on by itself at the last tempo
    from latentperform.engine.music import LINK_LOST_S
    assert music.reference(8.0 + LINK_LOST_S + 0.1) is None
    # our tempo change (the mapper writes clock/bpm: /lp/tempo, a tap) is proposed, not applied:
    # the tempo moves when Link's events say so, on every instance alike
    proposed = []
    music.propose_tempo = proposed.append
    params = ParamState(values={"clock/bpm": 132.0}, tempo=132.0)
    music.update(params.evolve(values={"clock/bpm": 90.0}, time=8.1), 8.1, [])
    assert proposed == [90.0] and music.tempo.bpm == pytest.approx(132.0)
    # bad values are ignored, not followed
    music.observe([ControlEvent("link", "clock/link", (float("nan"), 1.0), 9.0),
                   ControlEvent("link", "clock/link", (-5.0, 1.0), 9.0), ControlEvent("link", "clock/link", 3.0, 9.0)])
    assert music._link_ref[0] < 9.0


def test_offline_link_without_events_says_so_once():
    patch = load_patch(DEFAULT_PATCH)
    patch = replace(patch, clock=replace(patch.clock, source="link"),
                    inputs=replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False)))
    eng = open_show(patch, surface=HeadlessSurface((32, 32)), clock=FixedStepClock(10.0), fps=10.0,
                    generator=BuiltinGenerator(resolution=16), offline=True)
    try:
        for _ in range(40):
            eng.step()
        said = [e for e in eng.stats.errors if "clock/link" in e]
        assert len(said) == 1 and "internal clock" in said[0]
    finally:
        eng.close()


def test_internal_clock_events_for_mappings():
    """clock/beat on every beat (value: its number), clock/downbeat on every bar, phases each tick."""
    music = MusicalTime(clock_section("internal", bpm=120, beats_per_bar=3))
    part = MusicPart(music)

    class Eng:
        feature_track = None
        frame_index = 0
        params = ParamState()

    got = []
    params = ParamState(values={"clock/bpm": 120.0}, tempo=120.0)
    for k in range(0, 241):                       # 4 s at 60 fps: 8 beats
        t = k / 60
        got += part.poll(Eng, t)
        params = music.update(params.evolve(time=t), t)
    beats = [(e.value, e.time) for e in got if e.address == "clock/beat"]
    assert [v for v, _ in beats] == [float(n) for n in range(9)]
    assert np.allclose([t for _, t in beats], np.arange(9) * 0.5, atol=1e-9)
    assert [e.value for e in got if e.address == "clock/downbeat"] == [0.0, 1.0, 2.0]
    phases = [e.value for e in got if e.address == "clock/phase"]
    bars = [e.value for e in got if e.address == "clock/bar_phase"]
    assert len(phases) == 241 and phases[15] == pytest.approx(0.5) and bars[30] == pytest.approx(1 / 3)
    assert [e.value for e in got if e.address == "clock/bpm"] == [120.0]


# -- the engine --------------------------------------------------------------------------------

def _patch(source: str, audio: bool = False, bpm: float = 120.0):
    patch = load_patch(DEFAULT_PATCH)
    inputs = replace(patch.inputs, audio=AudioSection(enabled=audio, device="system" if audio else None),
                     osc=replace(patch.inputs.osc, enabled=False))
    return replace(patch, clock=ClockSection(source=source, bpm=bpm, beats_per_bar=4), inputs=inputs)


def _engine(patch, clock, offline, feature_track=None, fps=30):
    return open_show(patch, surface=HeadlessSurface((96, 64)), clock=clock, fps=fps, offline=offline,
                  generator=BuiltinGenerator(resolution=48), feature_track=feature_track)


def _click_track(bpm: float, seconds: float, sr: int = 22050, first: float = 0.25) -> np.ndarray:
    x = np.zeros(int(seconds * sr), np.float32)
    rng = np.random.default_rng(1)
    n = int(0.02 * sr)
    click = 0.6 * rng.standard_normal(n) * np.exp(-np.arange(n) / (0.003 * sr))
    for t in np.arange(first, seconds - 0.05, 60.0 / bpm):
        i = int(t * sr)
        x[i:i + n] += click[: len(x) - i]
    return x


def test_offline_render_follows_the_files_beats():
    from latentperform.features import analyze_file

    fps, bpm = 30.0, 100.0
    track = analyze_file(_click_track(bpm, 16.0), fps=fps, sample_rate=22050)
    eng = _engine(_patch("audio"), FixedStepClock(fps), offline=True, feature_track=track)
    eng.music.attach(eng)           # idempotent; the engine does it itself once core calls attach
    beats, zooms, crossings = [], [], []
    try:
        for k in range(len(track)):
            eng.step()
            beats.append(eng.params.beat)
            zooms.append(eng.params.get("shader/feedback/zoom"))
    finally:
        eng.close()
        eng.surface.close()
    beats = np.array(beats)
    assert eng.params.tempo == pytest.approx(bpm, abs=1.0)
    assert np.all(np.diff(beats) >= 0)
    # the engine's beats (crossings of whole numbers) fall on the file's clicks once locked
    t = np.arange(len(beats)) / fps
    for k in np.flatnonzero(np.floor(beats[1:]) > np.floor(beats[:-1])):
        frac = (np.floor(beats[k + 1]) - beats[k]) / (beats[k + 1] - beats[k])
        crossings.append(t[k] + frac / fps)
    clicks = np.arange(0.25, 16.0, 60 / bpm)
    late = [c for c in crossings if c > 8.0]
    off = [c - clicks[np.argmin(np.abs(clicks - c))] for c in late]
    assert len(late) >= 10 and np.max(np.abs(off)) < 0.04, np.round(off, 3)
    # clock/beat drives the default patch's feedback zoom on the beats
    assert max(zooms[len(zooms) // 2:]) > 1.015 and min(zooms[len(zooms) // 2:]) < 1.005


def test_link_without_the_extra_says_how_to_install_and_runs_on(monkeypatch):
    monkeypatch.setitem(sys.modules, "aalink", None)      # as if `pip install aalink` never ran
    eng = _engine(_patch("link", bpm=110), WallClock(), offline=False)
    try:
        open_live_inputs(eng, audio=False)
        msgs = [m for m in eng.stats.errors if "link" in m.lower()]
        assert len(msgs) == 1 and "pip install 'latentperform[link]'" in msgs[0] and "internal clock" in msgs[0]
        b0 = eng.params.beat
        for _ in range(10):
            eng.step()
            time.sleep(0.02)
        assert eng.params.tempo == 110.0 and eng.params.beat > b0
    finally:
        eng.close()
        eng.surface.close()


# -- a real capture through a running engine ---------------------------------------------------

def _jack_ports(server: str):
    import os
    env = {**os.environ, "JACK_DEFAULT_SERVER": server, "JACK_NO_START_SERVER": "1"}
    out = subprocess.run(["jack_lsp", "-p"], capture_output=True, text=True, env=env).stdout.splitlines()
    outputs, inputs = [], []
    for name, props in zip(out[::2], out[1::2]):
        if not name.startswith("system:"):
            (outputs if "output" in props else inputs).append(name.strip())
    return outputs, inputs, env


def test_click_track_through_jack_drives_a_running_engine(jack_server, monkeypatch):
    import os
    bpm = 120.0
    monkeypatch.setenv("JACK_DEFAULT_SERVER", jack_server)
    monkeypatch.setenv("JACK_NO_START_SERVER", "1")
    clock = WallClock()
    eng = _engine(_patch("audio", audio=True, bpm=90.0), clock, offline=False)
    player = None
    rows = []
    try:
        open_live_inputs(eng, audio=True)
        audio = eng.inputs[-1]
        deadline = time.monotonic() + 15
        while not audio.connected and time.monotonic() < deadline:
            eng.step()
            time.sleep(0.02)
        assert audio.connected, audio.status
        capture = _jack_ports(jack_server)[1]
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        player = subprocess.Popen([sys.executable, str(PLAYER), "play", str(bpm)], env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert player.stdout.readline().startswith("PLAYING"), player.stderr.read()[-2000:]
        outs, _, jenv = _jack_ports(jack_server)
        for src in outs:
            for dst in capture:
                subprocess.run(["jack_connect", src, dst], check=True, env=jenv, capture_output=True)
        start = clock.now()
        period = 1 / 30
        next_t = time.perf_counter()
        while clock.now() - start < 14.0:
            eng.step()
            p = eng.params
            rows.append((p.time, p.beat, p.tempo, p.get("shader/feedback/zoom"), p.get("latent/pulse")))
            next_t += period
            time.sleep(max(0.0, next_t - time.perf_counter()))
    finally:
        if player is not None:
            player.terminate()
            player.wait(5)
        eng.close()
        eng.surface.close()
    clicks = np.array([clock.to_clock_time(float(line.split()[1]))
                       for line in player.stdout.read().splitlines() if line.startswith("CLICK")])
    rows = np.array(rows)
    t, beat, tempo, zoom, pulse = rows.T
    late = t > start + 9.0
    print(f"engine tempo at the end {tempo[-1]:.2f} bpm; locks {eng.music.locks}")
    assert np.all(np.abs(tempo[late] - bpm) <= 1.5), tempo[late][-5:]
    assert eng.music.synced
    assert np.all(np.diff(beat) >= 0)
    # the engine's beats land on the clicks (the capture lag, ~10-20 ms, is all that is between)
    crossings = []
    for k in np.flatnonzero(np.floor(beat[1:]) > np.floor(beat[:-1])):
        if start + 9.0 < t[k] < clicks.max() + 0.25:   # (the player notes its clicks 5 times a second)
            frac = (np.floor(beat[k + 1]) - beat[k]) / (beat[k + 1] - beat[k])
            crossings.append(t[k] + frac * (t[k + 1] - t[k]))
    off = np.array([c - clicks[clicks <= c + 0.25].max() for c in crossings])
    print("engine beat - click:", np.round(1000 * off).astype(int), "ms")
    assert len(off) >= 8 and np.median(np.abs(off)) < 0.04 and np.max(np.abs(off)) < 0.08, off
    # clock/beat -> feedback zoom and audio/onset -> latent/pulse move on the clicks
    assert zoom[late].max() > 1.012 and zoom[late].min() < 1.005
    assert pulse[late].max() > 0.5 and pulse[late].min() < 0.2


def test_engine_follows_a_link_session_in_another_process():
    pytest.importorskip("aalink", reason="the optional extra: pip install 'latentperform[link]'")
    import os
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    peer = subprocess.Popen([sys.executable, str(ROOT / "tests" / "inputs" / "test_link.py"), "peer", "100", "15", "133"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    eng = None
    try:
        assert peer.stdout.readline().startswith("READY"), peer.stderr.read()[-2000:]
        eng = _engine(_patch("link", bpm=100), WallClock(), offline=False)
        open_live_inputs(eng, audio=False)
        link = eng.music.link
        assert link is not None and not eng.stats.errors
        deadline = time.monotonic() + 5
        while link.peers == 0 and time.monotonic() < deadline:
            eng.step()
            time.sleep(0.02)
        assert link.peers == 1
        def behind():   # how far the engine's bar is from the session's, in beats
            bpm, beat = link.state()
            ours = eng.params.beat + (eng.clock.now() - eng.params.time) * eng.params.tempo / 60
            return abs((beat - ours + 2) % 4 - 2)

        # joining moves the session's beat: the engine glides over (at most 1.5x its speed)
        deadline = time.monotonic() + 8
        while time.monotonic() < deadline and (eng.params.tempo != pytest.approx(133.0) or behind() > 0.02):
            eng.step()
            time.sleep(0.02)
        assert eng.params.tempo == pytest.approx(133.0, abs=0.01) and behind() < 0.02
        # the engine's bar is the session's bar (quantum = beats_per_bar = 4)
        t = 0.0
        while time.perf_counter() - float(t) > 0.1:         # skip to a fresh line
            line = peer.stdout.readline()
            if line.startswith("PEER"):
                _, t, bpm, beat, _ = line.split()
        eng.step()
        theirs = float(beat) + (eng.clock.to_clock_time(time.perf_counter()) - eng.clock.to_clock_time(float(t))) * float(bpm) / 60
        ours = eng.params.beat + (eng.clock.now() - eng.params.time) * eng.params.tempo / 60
        assert abs((ours - theirs + 2) % 4 - 2) < 0.1, (ours, theirs)
        # a tempo set in the show (OSC /lp/tempo is param/clock/bpm) goes to the session
        eng.add_queue().put(ControlEvent("osc", "param/clock/bpm", 96.0, eng.clock.now()))
        for _ in range(10):
            eng.step()
            time.sleep(0.02)
        assert link.tempo == pytest.approx(96.0)
        deadline = time.monotonic() + 3
        seen = None
        while time.monotonic() < deadline:
            line = peer.stdout.readline()
            if line.startswith("PEER"):
                seen = float(line.split()[2])
                if abs(seen - 96.0) < 1e-6:
                    break
        assert seen == pytest.approx(96.0)
        assert eng.params.tempo == pytest.approx(96.0)
    finally:
        if eng is not None:
            eng.close()
            eng.surface.close()
        peer.terminate()
        peer.wait(5)


def test_a_reloaded_clock_section_keeps_the_beat_going():
    """Engine.apply_patch makes a new MusicalTime when [clock] source changes: the music part
    adopts it and the beat carries on (no jump back to 0)."""
    eng = _engine(_patch("internal"), FixedStepClock(30), offline=True)
    part = eng.music.attach(eng)
    try:
        for _ in range(45):
            eng.step()
        before = eng.params.beat
        assert before > 2.5
        eng.apply_patch(replace(eng.patch, clock=ClockSection(source="tap", bpm=120, beats_per_bar=4)))
        eng.step()
        assert part.music is eng.music and eng.music.part is part
        assert before < eng.params.beat < before + 0.1
    finally:
        eng.close()
        eng.surface.close()


def test_chroma_of_the_sound_feeds_the_chroma_keyframes_mode():
    from latentperform.features import analyze_file

    sr, fps = 22050, 30.0
    t = np.arange(int(4.0 * sr)) / sr
    chord = sum(0.2 * np.sin(2 * np.pi * f * t) for f in (261.63, 329.63, 392.0))   # C E G
    track = analyze_file(chord.astype(np.float32), fps=fps, sample_rate=sr)
    eng = _engine(_patch("internal"), FixedStepClock(fps), offline=True, feature_track=track)
    eng.music.attach(eng)
    try:
        for _ in range(30):
            eng.step()
        assert all(eng.params.get(f"latent/chroma/{k}") == 0.0 for k in range(12))   # amount 0: left alone
        eng.params = eng.params.evolve(values={**eng.params.values, "latent/chroma": 1.0})
        for _ in range(30):
            eng.step()
        w = np.array([eng.params.get(f"latent/chroma/{k}") for k in range(12)])
        assert set(np.argsort(w)[-3:]) == {0, 4, 7}, np.round(w, 2)
        assert w[[0, 4, 7]].min() > 0.5 and np.delete(w, [0, 4, 7]).max() < 0.3
        assert np.any(eng.trajectory.chroma > 0.5)           # the trajectory took the weights
    finally:
        eng.close()
        eng.surface.close()
