"""A show run from a distance (issue 13): two-way OSC for TouchOSC, /lp/state, show commands over
OSC and MIDI, learn that says what it replaces and can be undone, honest input feedback.  Real UDP
(python-osc, and liblo's oscsend where a real foreign client matters), JACK MIDI ports, a headless
engine stepped in the test thread."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
import uuid

import pytest
import tomlkit
from pythonosc.udp_client import SimpleUDPClient

from latentperform.engine.controllers import ControlSurfaces, find_part
from latentperform.patch import load_patch
from tests.engine.test_controllers import (M, Listener, close_show, devices, midi_parts, start_show,  # noqa: F401
                                           step_for, step_until, wait_for, write_patch)

TOUCH = """
[[mapping]]
source = "osc/touch/walk"
target = "latent/walk"
input = [0, 127]

[[mapping]]
source = "osc/touch/xy"
target = "latent/xy/x"
index = 0

[[mapping]]
source = "osc/touch/xy"
target = "latent/xy/y"
index = 1

[[mapping]]
source = "midi/note/0/40"      # pad: screenshot
target = "stage/screenshot"
"""


@pytest.fixture
def touch_show(tmp_path):
    made = []

    def _open(**kw):
        path = write_patch(tmp_path, **kw)
        path.write_text(path.read_text() + TOUCH)
        eng = start_show(path)
        made.append(eng)
        return eng, path

    yield _open
    for eng in made:
        close_show(eng)


def oscsend(port: int, address: str, *typed):
    if shutil.which("oscsend") is None:
        pytest.skip("liblo-tools (oscsend) is not installed: scripts/install.sh --test installs it")
    subprocess.run(["oscsend", "localhost", str(port), address, *typed], check=True, timeout=10)


def test_two_way_osc_sends_every_mapped_control_its_value_with_echo_holdoff(touch_show):
    listener = Listener()
    eng, _ = touch_show(midi=False, targets=[listener.port])
    try:
        client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)
        walk_max = eng.specs["latent/walk"].max
        # set from elsewhere (another page of the host): the fader follows, in its own 0..127
        client.send_message("/lp/walk", walk_max / 2)
        assert step_until(eng, lambda: any(m[0] == "/touch/walk" and m[1] == pytest.approx(63.5, abs=1e-3)
                                           for m in listener()))
        client.send_message("/lp/xy", [0.2, 0.8])
        assert step_until(eng, lambda: any(m[0] == "/touch/xy" and m[1:] == pytest.approx((0.2, 0.8), abs=1e-6)
                                           for m in listener()))
        # the hand on the fader: no echo while it moves, the value it set once it rests
        n = len(listener())
        client.send_message("/touch/walk", 100.0)
        assert step_until(eng, lambda: eng.params.get("latent/walk") == pytest.approx(walk_max * 100 / 127))
        t0 = time.monotonic()
        step_for(eng, 0.15)
        assert not [m for m in listener()[n:] if m[0] == "/touch/walk"], "echo while the fader moved"
        assert step_until(eng, lambda: [m for m in listener()[n:] if m[0] == "/touch/walk"])
        back = [m for m in listener()[n:] if m[0] == "/touch/walk"]
        assert back[-1][1] == pytest.approx(100.0, abs=1e-3) and time.monotonic() - t0 >= 0.2
        # a host that reconnects asks for everything (liblo's oscsend: a client nobody here wrote)
        n = len(listener())
        oscsend(eng.inputs[0].port, "/lp/state")
        assert step_until(eng, lambda: {"/lp/tempo", "/touch/walk", "/touch/xy", "/lp/param/latent/walk"}
                          <= {m[0] for m in listener()[n:]})
        assert not any(m[0] == "/lp/param/latent/xy" for m in listener())   # never the lone vector name
    finally:
        listener.close()


def test_show_commands_over_osc_and_midi(touch_show, devices, tmp_path):
    listener = Listener()
    eng, path = touch_show(ctl=devices.ctl, leds=devices.leds, targets=[listener.port])
    try:
        inp, _ = midi_parts(eng)
        assert wait_for(lambda: inp.connected)
        client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)
        stage = eng.stage
        client.send_message("/lp/screenshot", [])
        assert step_until(eng, lambda: len(stage.saved) == 1, timeout=10)
        devices.send(M("note_on", channel=0, note=40, velocity=100))      # the pad mapped to it
        assert step_until(eng, lambda: len(stage.saved) == 2, timeout=10)
        assert all(p.parent == path.parent and p.suffix == ".png" for p in stage.saved)

        client.send_message("/lp/record", 1)
        assert step_until(eng, lambda: eng.recorder is not None and eng.recorder.written > 3, timeout=10)
        assert step_until(eng, lambda: ("/lp/recording", 1) in listener(), timeout=3)
        client.send_message("/lp/record", 0)
        assert step_until(eng, lambda: eng.recorder is None and stage.recordings, timeout=10)
        stage.wait()
        assert stage.recordings[0].stat().st_size > 0

        shown = eng.hud_visible
        client.send_message("/lp/overlay", 0.0 if shown else 1.0)
        assert step_until(eng, lambda: eng.hud_visible != shown)
        client.send_message("/lp/blackout", 1.0)
        client.send_message("/lp/freeze", 1.0)
        assert step_until(eng, lambda: eng.params.get("engine/blackout") == 1.0 and eng.params.get("engine/freeze") == 1.0)

        client.send_message("/lp/quit", [])                      # guarded: the first only asks
        step_for(eng, 0.3)
        assert not eng._stop
        client.send_message("/lp/quit", [])
        assert step_until(eng, lambda: eng._stop)
    finally:
        listener.close()


def test_keys_r_and_h_go_through_the_same_parameters(touch_show):
    eng, _ = touch_show(midi=False)
    keys = []
    eng.surface.poll_keys = lambda: [keys.pop(0)] if keys else []
    shown = eng.hud_visible
    keys.append("h")
    eng.handle_keys()
    assert step_until(eng, lambda: eng.hud_visible != shown and eng.params.get("stage/overlay") == float(not shown))
    keys.append("r")
    eng.handle_keys()
    assert step_until(eng, lambda: eng.recorder is not None, timeout=10)
    assert eng.params.get("stage/record") == 1.0
    keys.append("r")
    eng.handle_keys()
    assert step_until(eng, lambda: eng.recorder is None and eng.params.get("stage/record") == 0.0, timeout=10)
    eng.stage.wait()


def test_learn_says_what_it_replaces_and_undo_puts_it_back(touch_show):
    listener = Listener()
    eng, path = touch_show(midi=False, targets=[listener.port])
    try:
        before = path.read_text()
        client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)
        client.send_message("/lp/learn", "latent/truncation")    # mapped from midi/cc/0/7
        assert step_until(eng, lambda: find_part(eng, ControlSurfaces).learn.armed)
        client.send_message("/touch/trunc", 0.4)
        status = lambda: find_part(eng, ControlSurfaces).learn.status  # noqa: E731
        assert step_until(eng, lambda: status().startswith("learned"))
        assert status() == ("learned osc/touch/trunc -> latent/truncation (replaces midi/cc/0/7; saved in "
                            "show.toml; undo: u or /lp/learn/undo)")
        m = next(m for m in load_patch(path).mappings if m.target == "latent/truncation")
        assert m.source == "osc/touch/trunc" and m.range == (0.0, 2.0)     # the parameter's range kept
        client.send_message("/lp/learn/undo", [])
        assert step_until(eng, lambda: status().startswith("learn undone"))
        assert path.read_text() == before
        assert [m.source for m in eng.patch.mappings if m.target == "latent/truncation"] == ["midi/cc/0/7"]
        client.send_message("/lp/learn/undo", [])
        assert step_until(eng, lambda: status() == "learn: nothing to undo")
        assert ("/lp/learn/status", "learn: nothing to undo") in listener() or step_until(
            eng, lambda: ("/lp/learn/status", "learn: nothing to undo") in listener())
    finally:
        listener.close()


def test_learn_an_xy_pad_in_one_message_and_pressing_learn_again_cancels(touch_show):
    from latentperform.engine.stage import PatchWatcher
    eng, path = touch_show(midi=False)
    eng.add_part(PatchWatcher(path, interval=0.1))
    surfaces = find_part(eng, ControlSurfaces)
    keys = []
    eng.surface.poll_keys = lambda: [keys.pop(0)] if keys else []
    client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)

    keys.append("l")
    eng.handle_keys()
    assert surfaces.learn.armed
    keys.append("l")                      # pressed again: cancel, not the next name
    eng.handle_keys()
    assert not surfaces.learn.armed and surfaces.learn.status == "learn cancelled"

    client.send_message("/lp/learn", "latent/xy")           # once: "did you mean latent/xy?"
    assert step_until(eng, lambda: surfaces.learn.armed and "XY pad" in surfaces.learn.status)
    client.send_message("/pad/2", [0.3, 0.6])
    assert step_until(eng, lambda: surfaces.learn.status.startswith("learned"))
    got = [(m.source, m.target, m.index) for m in load_patch(path).mappings if m.source == "osc/pad/2"]
    assert got == [("osc/pad/2", "latent/xy/x", 0), ("osc/pad/2", "latent/xy/y", 1)]
    client.send_message("/pad/2", [0.9, 0.1])
    assert step_until(eng, lambda: (eng.params.get("latent/xy/x"), eng.params.get("latent/xy/y"))
                      == pytest.approx((0.9, 0.1)))
    step_for(eng, 0.6)                    # the watcher sees the file the learn wrote ...
    assert not [text for text, _, _ in eng.overlay.notices if "patch reloaded" in text]   # ... and stays quiet


def test_other_controls_keep_working_while_learn_is_armed(touch_show, devices):
    eng, path = touch_show(ctl=devices.ctl, leds=devices.leds)
    inp, _ = midi_parts(eng)
    assert wait_for(lambda: inp.connected)
    surfaces = find_part(eng, ControlSurfaces)
    surfaces.learn_param(eng, "latent/walk", eng.clock.now())
    assert surfaces.learn.armed
    devices.send(M("control_change", channel=0, control=7, value=100))   # fader 1 drives truncation
    assert step_until(eng, lambda: eng.params.get("latent/truncation") == pytest.approx(200 / 127))
    assert surfaces.learn.armed                                            # one message is a baseline
    devices.send(M("control_change", channel=0, control=20, value=10),
                 M("control_change", channel=0, control=20, value=40))
    assert step_until(eng, lambda: not surfaces.learn.armed)
    assert "learned midi/cc/0/20 -> latent/walk (replaces osc/touch/walk; saved in show.toml" in surfaces.learn.status


def test_unknown_addresses_and_bad_arguments_reach_the_overlay_and_the_host(touch_show):
    listener = Listener()
    eng, _ = touch_show(midi=False, targets=[listener.port])
    try:
        client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)
        client.send_message("/lp/truncaton", 0.5)
        client.send_message("/lp/truncation", "high")
        assert step_until(eng, lambda: sum("OSC:" in e for e in eng.stats.errors) >= 2)
        errors = [e for e in eng.stats.errors if "OSC:" in e]
        assert "no parameter answers to '/lp/truncaton'" in errors[0]
        assert "'/lp/truncation': expected 1 number, got str" in errors[1]
        assert step_until(eng, lambda: sum(m[0] == "/lp/error" for m in listener()) >= 2)
    finally:
        listener.close()


def test_cannot_listen_is_said_once(touch_show, tmp_path):
    eng, path = touch_show(midi=False)
    port = eng.inputs[0].port
    from latentperform.clock import WallClock
    from latentperform.engine import open_live_inputs, open_show
    from latentperform.models import BuiltinGenerator
    from latentperform.render import HeadlessSurface
    second = open_show(load_patch(path), surface=HeadlessSurface((64, 48)), clock=WallClock(), fps=30,
                       generator=BuiltinGenerator(resolution=48))
    try:
        open_live_inputs(second, osc_host="127.0.0.1", osc_port=port, audio=False)
        lines = [e for e in second.stats.errors if "cannot listen" in e]
        assert len(lines) == 1 and lines[0].count("cannot listen") == 1, lines
        assert f"127.0.0.1:{port}" in lines[0] and "carrying on without OSC" in lines[0]
    finally:
        close_show(second)


def test_no_frame_figures_before_there_are_frames(touch_show):
    listener = Listener()
    eng, _ = touch_show(midi=False, targets=[listener.port])
    try:
        eng.stage.send_figures(eng)
        time.sleep(0.1)
        assert not [m for m in listener() if m[0] in ("/lp/frame_ms", "/lp/stutter", "/lp/gen_ms")]
        assert ("/lp/recording", 0) in listener()
        step_for(eng, 0.5)
        eng.stage.send_figures(eng)
        assert step_until(eng, lambda: any(m[0] == "/lp/frame_ms" and m[1] > 0 for m in listener()))
    finally:
        listener.close()


# -- downbeat resync (/lp/resync, clock/resync) ---------------------------------------------------------


def _tick(music, params, t, events=(), fire=False):
    p = params.evolve(time=t, triggers=(("clock/resync", 1.0),) if fire else ())
    return music.update(p, t, list(events))


def test_resync_makes_now_the_first_beat_of_a_bar_keeping_the_tempo():
    from latentperform.engine.music import MusicalTime
    from latentperform.events import ParamState
    from latentperform.patch.schema import ClockSection
    music = MusicalTime(ClockSection(source="internal", bpm=120, beats_per_bar=4))
    params = ParamState(values={"clock/bpm": 120.0}, tempo=120.0)
    for k in range(1, 317):                       # 5.27 s: beat 10.53 (bar 3, beat 3)
        params = _tick(music, params, k / 60)
    t = 317 / 60
    params = _tick(music, params, t, fire=True)   # the performer hits resync on what is a downbeat
    assert params.beat % 4.0 == pytest.approx(0.0) and params.tempo == 120.0
    later = _tick(music, params, t + 0.5)
    assert later.beat - params.beat == pytest.approx(1.0)   # the tempo kept: one beat per 0.5 s


def test_resync_shifts_a_joined_midi_clock_to_the_performers_bar():
    """A MIDI clock joined mid-song counts from where it was: its beat 1 is no downbeat here."""
    from latentperform.engine.music import MusicalTime
    from latentperform.events import ControlEvent, ParamState
    from latentperform.patch.schema import ClockSection
    music = MusicalTime(ClockSection(source="midi", bpm=120, beats_per_bar=4))
    params = ParamState(values={"clock/bpm": 120.0}, tempo=120.0)
    bpm = 120.0

    def beats(a, b):
        return [e for n in range(64) for e in (ControlEvent("clock", "clock/beat", float(n), n * 0.5),
                                               ControlEvent("clock", "clock/midi/bpm", bpm, n * 0.5))
                if a < n * 0.5 <= b]

    t_prev, fired = 0.0, None
    for k in range(1, 601):                        # 10 s at 60 ticks a second
        t = k / 60
        fire = fired is None and t >= 3.5           # MIDI beat 7 is where the performer's bar starts
        params = _tick(music, params, t, beats(t_prev, t), fire=fire)
        if fire:
            fired = t
        t_prev = t
    # the engine's bars now start on MIDI beats 7, 11, 15 ...: at 10 s (MIDI beat 20) it is bar beat 1
    assert params.beat % 4.0 == pytest.approx((20 - 7) % 4, abs=0.02)
    assert music.synced


# -- the command line ------------------------------------------------------------------------------------


def test_osc_docs_writes_here_or_where_asked_never_into_the_package(tmp_path, monkeypatch, capsys):
    from pathlib import Path

    from latentperform.cli import main
    repo_copy = Path(__file__).resolve().parents[2] / "docs" / "osc.md"
    before = repo_copy.stat().st_mtime_ns
    monkeypatch.chdir(tmp_path)
    assert main(["osc-docs"]) == 0
    assert (tmp_path / "osc.md").read_text().startswith("# OSC namespace")
    assert main(["osc-docs", "--out", str(tmp_path / "ref.md")]) == 0
    assert (tmp_path / "ref.md").read_text() == (tmp_path / "osc.md").read_text()
    assert repo_copy.stat().st_mtime_ns == before
    assert f"wrote {tmp_path / 'osc.md'}" in capsys.readouterr().out


def test_learn_prompt_is_numbered_and_asks_again_on_a_partial_name(jack_server, tmp_path, capsys, monkeypatch):
    from latentperform.cli import main
    from latentperform.inputs.midi import midi_backend
    path = write_patch(tmp_path, ctl="x", leds="y")
    name = f"lp-learn-{uuid.uuid4().hex[:6]}"
    out = midi_backend().open_output(name, virtual=True)
    answers = ["latent/t", "truncation"]          # several names contain "latent/t": asked again
    monkeypatch.setattr("builtins.input", lambda prompt="": answers.pop(0))

    def move():
        time.sleep(1.5)  # the command opens its port first
        for v in (0, 10, 40):
            out.send(M("control_change", channel=2, control=21, value=v))
            time.sleep(0.05)

    th = threading.Thread(target=move, daemon=True)
    th.start()
    try:
        rc = main(["learn", str(path), "--port", f"*{name}*", "--timeout", "5"])
    finally:
        th.join(5)
        out.close()
    printed = capsys.readouterr().out
    assert rc == 0, printed
    listing = printed.split("parameters:\n", 1)[1].splitlines()
    assert listing[0].split()[0] == "1" and listing[1].split()[0] == "2"    # numbered
    assert "match 'latent/t'" in printed
    assert f"mapped midi/cc/2/21 -> latent/truncation (replaces midi/cc/0/7) in {path}" in printed
    m = next(m for m in load_patch(path).mappings if m.target == "latent/truncation")
    assert m.source == "midi/cc/2/21" and m.range == (0.0, 2.0)


def test_a_mapping_to_a_show_command_is_not_called_ignored_at_start(touch_show):
    eng, _ = touch_show(midi=False)
    assert not [e for e in eng.stats.errors if "stage/screenshot" in e], list(eng.stats.errors)
    assert any(r.m.target == "stage/screenshot" for r in eng.mapper.rules)
