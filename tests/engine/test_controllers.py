"""Controllers in a running show, with real parts: a JACK dummy server and virtual MIDI ports
(a controller that sends, a controller whose LEDs receive), real UDP OSC from python-osc, and a
headless engine stepped in the test thread (its GL context belongs to this thread)."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from types import SimpleNamespace

import mido
import pytest
import tomlkit
from pythonosc.osc_message import OscMessage
from pythonosc.udp_client import SimpleUDPClient

from latentperform.clock import WallClock
from latentperform.engine import open_show, open_live_inputs
from latentperform.engine import controllers as ctl_mod
from latentperform.engine.controllers import ControlSurfaces, MidiLedFeedback, find_part
from latentperform.events import ControlEvent, ParamSpec, ParamState
from latentperform.registry import ParamRegistry
from latentperform.inputs.midi import MidiInput, _open_input, midi_backend
from latentperform.models import BuiltinGenerator
from latentperform.patch import Mapper, Mapping, load_patch

PATCH = """\
# A test show.  This comment must survive learning.
[model]
kind = "builtin"
resolution = 48

[output]
size = [64, 48]
fps = 30
shaders = ["grade"]

[clock]
source = "{clock}"
bpm = 120

[inputs.osc]
enabled = true
targets = [{targets}]

[inputs.midi]
enabled = {midi}
in = ["*{ctl}*"]
out = ["*{leds}*"]
cc14 = [[0, 1]]          # fader 2 is 14-bit

[[keyframes]]
seed = 1
[[keyframes]]
seed = 2
[[keyframes]]
seed = 3

# fader 1
[[mapping]]
source = "midi/cc/0/7"
target = "latent/truncation"   # keep this comment too
range = [0.0, 2.0]

[[mapping]]
source = "midi/cc/0/1"
target = "shader/grade/exposure"

[[mapping]]
source = "midi/note/0/36"      # pad: freeze on / off
target = "engine/freeze"
mode = "toggle"

[[mapping]]
source = "midi/cc/0/32"        # button: glide to keyframe 2
target = "latent/keyframe"
arg = 2

[[mapping]]
source = "clock/beat"
target = "latent/pulse"
bang = true
release = 0.2
"""


def M(kind, **kw):
    return mido.Message(kind, **kw)


def wait_for(predicate, timeout=5.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def step_until(eng, predicate, timeout=5.0):
    """Step the show (about 100 ticks a second) until predicate() holds."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        eng.step()
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def step_for(eng, seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        eng.step()
        time.sleep(0.01)


class Listener:
    """A UDP socket an OSC host would listen on; collects decoded messages."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.messages: list[tuple] = []

    def __call__(self) -> list[tuple]:
        while True:
            try:
                m = OscMessage(self.sock.recv(65535))
            except BlockingIOError:
                return self.messages
            self.messages.append((m.address, *m.params))

    def close(self):
        self.sock.close()


def write_patch(tmp_path, *, ctl="none", leds="none", midi=True, clock="internal", targets=()):
    path = tmp_path / "show.toml"
    path.write_text(PATCH.format(ctl=ctl, leds=leds, midi="true" if midi else "false", clock=clock,
                                 targets=", ".join(f'"127.0.0.1:{p}"' for p in targets)))
    return path


def start_show(path):
    patch = load_patch(path)
    from latentperform.render import HeadlessSurface
    eng = open_show(patch, surface=HeadlessSurface((64, 48)), clock=WallClock(), fps=30,
                 generator=BuiltinGenerator(resolution=48))
    open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
    return eng


def close_show(eng):
    eng.close()
    eng.surface.close()


@pytest.fixture
def show(tmp_path, request):
    """A running show; the test says how (via show.open(**patch options))."""
    made = []

    def _open(**kw):
        eng = start_show(write_patch(tmp_path, **kw))
        made.append(eng)
        return eng

    yield SimpleNamespace(open=_open, path=tmp_path / "show.toml")
    for eng in made:
        close_show(eng)


@pytest.fixture
def devices(jack_server, monkeypatch):
    """A controller (virtual output the show reads) and its LEDs (virtual input the show writes)."""
    monkeypatch.setattr(ctl_mod, "HOTPLUG_POLL", 0.1)
    tag = uuid.uuid4().hex[:6]
    d = SimpleNamespace(ctl=f"lp-ctl-{tag}", leds=f"lp-leds-{tag}", received=[])
    d.out = midi_backend().open_output(d.ctl, virtual=True)
    # read by polling, like the engine's inputs (a Python callback in JACK's thread can deadlock)
    d.led_port = _open_input(midi_backend(), d.leds, d.received.append, virtual=True)

    def send(*msgs):
        for m in msgs:
            d.out.send(m)
            # more than a JACK period apart: bursts get dropped, and rtmidi 1.5's JACK output
            # was seen (rarely) to send the previous message twice and lose the next one
            time.sleep(0.006)

    def leds(kind, ch, n):
        """Values received for one control, in order."""
        out = []
        for m in list(d.received):
            if m.type == kind and m.channel == ch and (m.control if kind == "control_change" else m.note) == n:
                out.append(m.value if kind == "control_change" else m.velocity)
        return out

    d.send, d.leds_for = send, leds
    yield d
    for p in (d.out, d.led_port):
        if not p.closed:
            p.close()


def midi_parts(eng):
    inp = next(i for i in eng.inputs if isinstance(i, MidiInput))
    fb = find_part(eng, MidiLedFeedback)
    return inp, fb


# -- LED feedback (the inverse of a mapping itself: tests/patch/test_feedback.py) ----------------------


class FakeOut:
    def __init__(self):
        self.sent = []

    def send_cc(self, ch, n, v):
        self.sent.append(("cc", ch, n, round(v, 4)))

    def send_cc14(self, ch, n, v):
        self.sent.append(("cc14", ch, n, round(v, 4)))

    def send_note(self, ch, n, v):
        self.sent.append(("note", ch, n, round(v, 4)))


def test_a_fader_just_moved_gets_no_echo_but_a_button_lights_at_once():
    mappings = (Mapping("midi/cc/0/7", "latent/truncation", range=(0.0, 2.0)),
                Mapping("midi/cc/0/1", "latent/walk"),
                Mapping("midi/note/0/36", "engine/freeze", mode="toggle"),
                Mapping("midi/cc/0/7", "latent/walk"))          # a second rule on one control: the first shows
    specs = {n: ParamSpec(n, 0.0, 0.0, 2.0) for n in ("latent/truncation", "latent/walk", "engine/freeze")}
    registry = ParamRegistry({"test": specs.values()})
    engine = SimpleNamespace(patch=SimpleNamespace(mappings=mappings), registry=registry, specs=registry.specs,
                             trajectory=None)
    touched = {"midi/cc/0/7": 10.0, "midi/note/0/36": 10.0}
    out = FakeOut()
    part = MidiLedFeedback([out], cc14=[(0, 1)], touched=touched)
    state = ParamState(values={"latent/truncation": 1.0, "latent/walk": 0.5, "engine/freeze": 2.0})
    part.after_frame(engine, state, 10.1)
    assert out.sent == [("cc14", 0, 1, 0.25), ("note", 0, 36, 1.0)]
    part.after_frame(engine, state, 10.3)  # the hand has left the fader
    assert out.sent[2:] == [("cc", 0, 7, 0.5), ("cc14", 0, 1, 0.25), ("note", 0, 36, 1.0)]


# -- MIDI into a running show, LEDs back out ----------------------------------------------------------


def test_midi_drives_the_show_and_leds_show_its_state(show, devices):
    listener = Listener()
    eng = show.open(ctl=devices.ctl, leds=devices.leds, targets=[listener.port])
    try:
        inp, fb = midi_parts(eng)
        assert fb is not None and wait_for(lambda: inp.connected and all("connected" in o.status for o in fb.outputs))
        frames = eng.stats.frames
        # a 7-bit fader, a 14-bit fader (MSB then LSB), a toggle pad, a keyframe button
        devices.send(M("control_change", channel=0, control=7, value=127),
                     M("control_change", channel=0, control=1, value=96),
                     M("control_change", channel=0, control=33, value=64),
                     M("note_on", channel=0, note=36, velocity=100),
                     M("note_off", channel=0, note=36),
                     M("control_change", channel=0, control=32, value=127))
        assert step_until(eng, lambda: eng.params.get("latent/truncation") == 2.0
                          and eng.params.get("engine/freeze") == 1.0
                          and eng.params.get("shader/grade/exposure") != 0.0
                          and eng.trajectory.current_keyframe() == 2), \
            ({k: eng.params.get(k) for k in ("latent/truncation", "engine/freeze", "shader/grade/exposure")},
             eng.trajectory.current_keyframe(), list(eng.stats.errors))
        assert eng.params.get("shader/grade/exposure") == pytest.approx(-4 + 8 * (96 * 128 + 64) / 16383)
        assert eng.stats.frames > frames and not eng.stats.errors, list(eng.stats.errors)

        # the LEDs: the pad lights (toggle on), the keyframe button lights, faders echo their place
        assert step_until(eng, lambda: devices.leds_for("note_on", 0, 36)[-1:] == [127]
                          and devices.leds_for("control_change", 0, 32)[-1:] == [127]
                          and devices.leds_for("control_change", 0, 7)[-1:] == [127])
        # a change from elsewhere (OSC) moves the fader's LED ring; the 14-bit fader gets both halves
        client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)
        client.send_message("/lp/truncation", 0.5)
        client.send_message("/lp/shader/grade/exposure", 2.0)
        client.send_message("/lp/freeze", 0.0)
        v14 = round(0.75 * 16383)
        assert step_until(eng, lambda: devices.leds_for("control_change", 0, 7)[-1:] == [32]
                          and devices.leds_for("control_change", 0, 1)[-1:] == [v14 >> 7]
                          and devices.leds_for("control_change", 0, 33)[-1:] == [v14 & 127]
                          and devices.leds_for("note_on", 0, 36)[-1:] == [0]), devices.received
        # only on change: a second of frames with nothing moving sends nothing
        n = len(devices.received)
        step_for(eng, 0.6)
        assert len(devices.received) == n, devices.received[n:]
        # and the OSC host heard the state: beat, tempo, fps, keyframe, changed parameters
        got = listener()
        addresses = {m[0] for m in got}
        assert {"/lp/beat", "/lp/tempo", "/lp/fps", "/lp/keyframe/current"} <= addresses, addresses
        assert ("/lp/keyframe/current", 2) in got
        assert ("/lp/param/latent/truncation", 2.0) in got and ("/lp/param/latent/truncation", 0.5) in got
        assert ("/lp/tempo", 120.0) in got
    finally:
        listener.close()


def test_midi_clock_sets_the_tempo_and_the_beats_reach_the_mappings(show, devices):
    eng = show.open(ctl=devices.ctl, leds=devices.leds, clock="midi")
    inp, _ = midi_parts(eng)
    assert wait_for(lambda: inp.connected)
    stop = threading.Event()

    def clock_at_150_bpm():
        devices.out.send(M("start"))
        t0 = time.perf_counter()
        k = 0
        while not stop.is_set():
            k += 1
            while time.perf_counter() < t0 + k * 60 / (150 * 24):
                time.sleep(0.0005)
            devices.out.send(M("clock"))

    th = threading.Thread(target=clock_at_150_bpm, daemon=True)
    th.start()
    pulses = []
    try:
        assert step_until(eng, lambda: pulses.append(eng.params.get("latent/pulse")) or
                          abs(eng.params.tempo - 150.0) < 2.0 and eng.params.get("clock/bpm") == eng.params.tempo,
                          timeout=8)
        step_for(eng, 1.0)
        assert abs(eng.params.tempo - 150.0) < 2.0
        assert max(pulses) > 0.5  # clock/beat events fired the bang mapping
        assert eng.music.synced  # the show's beat grid follows the MIDI clock's beats
    finally:
        stop.set()
        th.join(2)


def test_controller_unplugged_and_plugged_back_during_the_show(show, devices):
    eng = show.open(ctl=devices.ctl, leds=devices.leds)
    inp, fb = midi_parts(eng)
    out = fb.outputs[0]
    assert wait_for(lambda: inp.connected and "connected" in out.status)
    devices.send(M("control_change", channel=0, control=7, value=0))
    assert step_until(eng, lambda: eng.params.get("latent/truncation") == 0.0)

    devices.out.close()          # the controller goes away ...
    devices.led_port.close()
    frames = eng.stats.frames
    assert step_until(eng, lambda: "went away" in inp.status and "went away" in out.status)
    step_for(eng, 0.3)
    assert eng.stats.frames > frames + 10  # ... and the show goes on

    devices.received.clear()     # ... and comes back
    devices.out = midi_backend().open_output(devices.ctl, virtual=True)
    devices.led_port = _open_input(midi_backend(), devices.leds, devices.received.append, virtual=True)
    assert step_until(eng, lambda: inp.connected and "connected" in out.status)
    time.sleep(0.05)
    devices.send(M("control_change", channel=0, control=7, value=127))
    assert step_until(eng, lambda: eng.params.get("latent/truncation") == 2.0)
    # every LED is sent again to the controller that came back (not only what changed)
    assert step_until(eng, lambda: devices.leds_for("control_change", 0, 32) == [0]
                      and devices.leds_for("note_on", 0, 36) == [0]
                      and devices.leds_for("control_change", 0, 7)[-1:] == [127]), devices.received


# -- learn in a running show ------------------------------------------------------------------------------


def test_learn_over_osc_writes_the_patch_and_takes_effect_live(show, devices):
    listener = Listener()
    eng = show.open(ctl=devices.ctl, leds=devices.leds, targets=[listener.port])
    try:
        inp, fb = midi_parts(eng)
        assert wait_for(lambda: inp.connected and "connected" in fb.outputs[0].status)
        client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)

        # 1. an OSC control, the parameter named by its /lp address
        client.send_message("/lp/learn", "/lp/truncation")
        assert step_until(eng, lambda: ("/lp/learn/status", "learning latent/truncation: move a control") in listener())
        before = eng.params.get("latent/truncation")
        client.send_message("/touch/fader1", 0.1)   # one message is enough (a TouchOSC button sends one)
        assert step_until(eng, lambda: any(m[0] == "/lp/learn/status" and m[1].startswith("learned") for m in listener()))
        assert ("/lp/learn/status", "learned osc/touch/fader1 -> latent/truncation (replaces midi/cc/0/7; "
                "saved in show.toml; undo: u or /lp/learn/undo)") in listener()
        assert eng.params.get("latent/truncation") == before  # the learning moves did not drive the show
        client.send_message("/touch/fader1", 0.8)
        assert step_until(eng, lambda: eng.params.get("latent/truncation") == pytest.approx(1.6))
        text = show.path.read_text()
        assert "# A test show.  This comment must survive learning." in text and "# keep this comment too" in text
        assert "# pad: freeze on / off" in text
        doc = tomlkit.parse(text)
        learned = [m for m in doc["mapping"] if m["target"] == "latent/truncation"]
        assert len(learned) == 1 and learned[0]["source"] == "osc/touch/fader1"
        assert list(learned[0]["range"]) == [0.0, 2.0]  # replaced, the parameter's range kept
        load_patch(show.path)  # still a valid patch

        # 2. a MIDI control for a parameter nothing drove yet; its LED follows at once
        client.send_message("/lp/learn", "latent/walk")
        assert step_until(eng, lambda: eng.parts and find_part(eng, ControlSurfaces).learn.target == "latent/walk")
        devices.send(M("control_change", channel=0, control=20, value=10),
                     M("control_change", channel=0, control=20, value=40))
        assert step_until(eng, lambda: "learned midi/cc/0/20 -> latent/walk" in find_part(eng, ControlSurfaces).learn.status)
        devices.send(M("control_change", channel=0, control=20, value=127))
        assert step_until(eng, lambda: eng.params.get("latent/walk") == eng.specs["latent/walk"].max)
        client.send_message("/lp/walk", eng.specs["latent/walk"].max / 2)
        assert step_until(eng, lambda: devices.leds_for("control_change", 0, 20)[-1:] == [64]), devices.received
        doc = tomlkit.parse(show.path.read_text())
        assert {"source": "midi/cc/0/20", "target": "latent/walk"} in [dict(m) for m in doc["mapping"]]

        # 3. cancel, and a name that is no parameter
        client.send_message("/lp/learn", "latent/speed")
        client.send_message("/lp/learn/cancel", 1.0)
        client.send_message("/lp/learn", "latent/sped")
        assert step_until(eng, lambda: ("/lp/learn/status", "learn cancelled") in listener()
                          and any(m[0] == "/lp/learn/status" and 'did you mean "latent/speed"' in m[1] for m in listener()))
        assert not find_part(eng, ControlSurfaces).learn.armed
        assert eng.inputs[0].stats["commands"] == 5 and eng.inputs[0].stats["unknown"] == 0
    finally:
        listener.close()


def test_learn_key_arms_the_parameter_touched_last_or_cancels(show, tmp_path):
    eng = show.open(midi=False)
    surfaces = find_part(eng, ControlSurfaces)
    keys = []
    eng.surface.poll_keys = lambda: [keys.pop(0)] if keys else []
    client = SimpleUDPClient("127.0.0.1", eng.inputs[0].port)

    keys.append("l")  # nothing touched yet: the first parameter; pressed again: cancelled
    eng.handle_keys()
    assert surfaces.learn.target == "clock/bpm"
    keys.append("l")
    eng.handle_keys()
    assert not surfaces.learn.armed and surfaces.learn.status == "learn cancelled"

    client.send_message("/lp/walk", 0.5)   # changed over OSC ...
    assert step_until(eng, lambda: eng.params.get("latent/walk") == 0.5)
    keys.append("l")                       # ... so `l` arms it
    eng.handle_keys()
    assert surfaces.learn.target == "latent/walk"
    client.send_message("/knob", 0.25)
    assert step_until(eng, lambda: not surfaces.learn.armed)
    client.send_message("/knob", 0.75)
    assert step_until(eng, lambda: eng.params.get("latent/walk") == pytest.approx(0.75 * eng.specs["latent/walk"].max))
    assert any(m.source == "osc/knob" and m.target == "latent/walk" for m in eng.patch.mappings)
    assert any(m.source == "osc/knob" and m.target == "latent/walk" for m in load_patch(show.path).mappings)


def test_learn_times_out(show, monkeypatch):
    eng = show.open(midi=False)
    surfaces = find_part(eng, ControlSurfaces)
    surfaces.learn.timeout = 0.3
    surfaces.learn_param(eng, "latent/walk", eng.clock.now())
    assert step_until(eng, lambda: not surfaces.learn.armed, timeout=3)
    assert surfaces.learn.status.startswith("learn timed out")


# -- `latentperform learn PATCH` ---------------------------------------------------------------------------


def test_learn_command_with_a_real_port(jack_server, tmp_path, capsys):
    from latentperform.cli import main
    path = write_patch(tmp_path, ctl="x", leds="y")
    name = f"lp-learn-{uuid.uuid4().hex[:6]}"
    out = midi_backend().open_output(name, virtual=True)

    def move():
        time.sleep(1.5)  # the command opens its port first
        for v in (0, 10, 40):
            out.send(M("control_change", channel=2, control=21, value=v))
            time.sleep(0.05)

    th = threading.Thread(target=move, daemon=True)
    th.start()
    try:
        rc = main(["learn", str(path), "--param", "latent/walk", "--port", f"*{name}*", "--timeout", "5"])
    finally:
        th.join(5)
        out.close()
    captured = capsys.readouterr()
    assert rc == 0, captured
    assert f"mapped midi/cc/2/21 -> latent/walk in {path}" in captured.out
    text = path.read_text()
    assert "# A test show.  This comment must survive learning." in text and "# keep this comment too" in text
    patch = load_patch(path)
    assert [(m.source, m.target) for m in patch.mappings][-1] == ("midi/cc/2/21", "latent/walk")


def test_learn_command_when_nothing_moves_says_so_in_one_line(jack_server, tmp_path, capsys):
    from latentperform.cli import main
    path = write_patch(tmp_path)
    before = path.read_text()
    name = f"lp-still-{uuid.uuid4().hex[:6]}"
    out = midi_backend().open_output(name, virtual=True)
    try:
        rc = main(["learn", str(path), "--param", "latent/walk", "--port", f"*{name}*", "--timeout", "2"])
    finally:
        out.close()
    err = capsys.readouterr().err
    lines = [l for l in err.splitlines() if l.startswith("latentperform: error:")]
    assert rc == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert "no control moved within 2 s" in lines[0] and "connected" in lines[0], lines[0]
    assert path.read_text() == before

    rc = main(["learn", str(path), "--param", "latent/wak", "--port", f"*{name}*", "--timeout", "1"])
    err = capsys.readouterr().err
    assert rc == 2 and 'unknown parameter "latent/wak"; did you mean "latent/walk"?' in err
