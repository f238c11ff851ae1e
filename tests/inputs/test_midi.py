"""MIDI: the message -> event translation (pure), then real ports on a JACK dummy server: a
virtual port sends CCs, 14-bit CCs, notes, pitch bend and a 120 bpm clock into MidiInput; LED
feedback is received on a virtual input; hot-plug by closing and reopening the virtual port."""

from __future__ import annotations

import logging
import time
import uuid

import mido
import pytest

from latentperform.clock import WallClock
from latentperform.config import UserError
from latentperform.events import EventQueue
from latentperform.inputs.midi import (MidiClockFollower, MidiFeedback, MidiInput, MidiTranslator, _open_input,
                                       list_midi_ports, match_port, midi_backend)


def M(kind, **kw):
    return mido.Message(kind, **kw)


# -- translation, no ports ------------------------------------------------------------------------


def test_channel_messages_become_addressed_values():
    tr = MidiTranslator()
    got = lambda msg: [(e.address, e.value) for e in tr.translate(msg, 1.0)]  # noqa: E731
    assert got(M("control_change", channel=0, control=7, value=127)) == [("midi/cc/0/7", 1.0)]
    assert got(M("control_change", channel=15, control=1, value=64)) == [("midi/cc/15/1", 64 / 127)]
    assert got(M("note_on", channel=9, note=36, velocity=127)) == [("midi/note/9/36", 1.0)]
    assert got(M("note_on", channel=9, note=36, velocity=0)) == [("midi/note/9/36", 0.0)]
    assert got(M("note_off", channel=9, note=36, velocity=64)) == [("midi/note/9/36", 0.0)]
    assert got(M("pitchwheel", channel=2, pitch=8191)) == [("midi/pitchbend/2", 1.0)]
    assert got(M("pitchwheel", channel=2, pitch=-8192)) == [("midi/pitchbend/2", -1.0)]
    assert got(M("pitchwheel", channel=2, pitch=0)) == [("midi/pitchbend/2", 0.0)]
    assert got(M("aftertouch", channel=1, value=127)) == [("midi/aftertouch/1", 1.0)]
    assert got(M("polytouch", channel=1, note=60, value=0)) == [("midi/polytouch/1/60", 0.0)]
    assert got(M("program_change", channel=0, program=5)) == [("midi/program/0", 5.0)]
    assert got(M("sysex", data=[1, 2, 3])) == []
    assert tr.stats == {"received": 12, "events": 11, "ignored": 1}
    # a relative encoder's raw value is recoverable exactly
    for raw in range(128):
        (e,) = tr.translate(M("control_change", channel=0, control=16, value=raw), 0.0)
        assert round(e.value * 127) == raw


def test_fourteen_bit_pairs():
    tr = MidiTranslator(cc14=[(0, 1)])
    got = lambda msg: [(e.address, e.value) for e in tr.translate(msg, 0.0)]  # noqa: E731
    assert got(M("control_change", channel=0, control=1, value=64)) == [("midi/cc/0/1", 8192 / 16383)]
    assert got(M("control_change", channel=0, control=33, value=5)) == [("midi/cc/0/1", 8197 / 16383)]
    assert got(M("control_change", channel=0, control=1, value=127)) == [("midi/cc/0/1", 16256 / 16383)]
    assert got(M("control_change", channel=0, control=33, value=127)) == [("midi/cc/0/1", 1.0)]
    # the same controller numbers on another channel stay 7-bit
    assert got(M("control_change", channel=1, control=33, value=127)) == [("midi/cc/1/33", 1.0)]
    with pytest.raises(UserError):
        MidiTranslator(cc14=[(0, 40)])


def test_clock_follower_gives_tempo_and_beats():
    tr = MidiTranslator()
    events = []
    tr.translate(M("start"), 0.0)
    for k in range(24 * 8):
        events += tr.translate(M("clock"), k * 0.5 / 24)  # 120 bpm
    beats = [e.value for e in events if e.address == "clock/beat"]
    assert beats == [float(b) for b in range(8)]
    bpms = [e.value for e in events if e.address == "clock/midi/bpm"]
    assert bpms[-1] == pytest.approx(120.0, abs=1e-6)
    assert [e.address for e in tr.translate(M("stop"), 5.0)] == ["clock/midi/stop"]
    assert not any(e.address == "clock/beat" for k in range(48) for e in tr.translate(M("clock"), 5 + k / 48))
    tr.translate(M("songpos", pos=16), 6.0)  # 16 sixteenths = beat 4
    assert [e.address for e in tr.translate(M("continue"), 6.0)] == ["clock/midi/continue"]
    assert [e.value for e in tr.translate(M("clock"), 6.01) if e.address == "clock/beat"] == [4.0]


def test_clock_follower_restarts_after_a_pause():
    f = MidiClockFollower()
    for k in range(48):
        f.tick(k / 24)  # 60 bpm
    assert f.bpm == pytest.approx(60.0)
    for k in range(48):
        f.tick(10 + k / 96)  # 240 bpm after a long pause: no blend with the old tempo
    assert f.bpm == pytest.approx(240.0)


def _clock_ticks(segments, seed=1, jitter=0.005, stall_every=0):
    """Arrival times of a 24-ppqn clock: (bpm, seconds) segments, each tick late by 0..jitter
    s (a JACK period, a polling thread), and every `stall_every`-th tick 45 ms late (a stalled
    thread delivering late)."""
    import random
    rng = random.Random(seed)
    start, k, out = 0.0, 0, []
    for bpm, seconds in segments:
        n = round(seconds * bpm * 24 / 60.0)
        for j in range(n):
            t = start + j * 60.0 / (bpm * 24)
            late = 0.045 if stall_every and k % stall_every == stall_every // 2 else rng.uniform(0.0, jitter)
            out.append((t, t + late, bpm))
            k += 1
        start += n * 60.0 / (bpm * 24)
    return out


@pytest.mark.parametrize("stall_every", [0, 40])
def test_clock_tempo_is_steady_within_half_a_bpm_and_follows_a_change(stall_every):
    f = MidiClockFollower()
    readings = [(ideal, f.tick(arrival)[0], bpm)
                for ideal, arrival, bpm in _clock_ticks([(100, 4), (120, 3), (90, 3)], stall_every=stall_every)]

    def worst(lo, hi):
        return max(abs(b - bpm) for ideal, b, bpm in readings if lo <= ideal < hi)

    assert worst(2.0, 4.0) <= 0.5          # a steady 100 bpm reads 99.5..100.5 from 2 s on
    assert worst(4.5, 7.0) <= 0.5          # the change to 120 is read within half a second
    assert worst(8.0, 10.0) <= 0.5         # ... the one down to 90 within a second
    assert worst(4.3, 4.5) <= 2.0          # not lagging: 0.3 s after a change it is near the new
    assert worst(7.3, 7.5) <= 2.0          # tempo (a two-second average would be 6-10 bpm off)
    assert f.restarts == 2                 # two changes, no false alarm from jitter or stalls


def test_clock_tempo_of_a_steady_clock_is_better_than_a_two_beat_average():
    """The issue's 92.4-101 for a steady 100: the old two-beat span met stalls at its ends."""
    f = MidiClockFollower()
    readings = [(ideal, f.tick(arrival)[0]) for ideal, arrival, _ in _clock_ticks([(100, 6)], stall_every=30)]
    spread = [b for ideal, b in readings if ideal >= 2.0]
    assert max(spread) - min(spread) < 0.5


def test_port_patterns():
    names = ["RtMidiOut Client:nanoKONTROL2 SLIDER/KNOB", "Launch Control XL:Launch Control XL MIDI 1 20:0"]
    assert match_port("nanoKONTROL2*", names) == names[0]
    assert match_port("Launch Control XL*", names) == names[1]
    assert match_port(names[1], names) == names[1]
    assert match_port("*XL*", names) == names[1]
    assert match_port("nanokontrol2*", names) is None  # case matters
    assert match_port("Akai*", names) is None


# -- real ports on JACK -------------------------------------------------------------------------------


def wait_for(predicate, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


class Collector:
    def __init__(self, q: EventQueue):
        self.q = q
        self.events = []

    def __call__(self):
        self.events.extend(self.q.iter_pending())
        return self.events

    def until(self, predicate, timeout=3.0):
        assert wait_for(lambda: predicate(self()), timeout), f"got {[(e.address, e.value) for e in self.events]}"
        return self.events


def send_paced(port, messages):
    for m in messages:
        port.send(m)
        time.sleep(0.001)  # JACK drops bursts of more than ~64 messages a period


@pytest.fixture
def sender(jack_server):
    name = f"lp-test-{uuid.uuid4().hex[:6]}"
    port = midi_backend().open_output(name, virtual=True)
    yield name, port
    if not port.closed:
        port.close()


def test_real_port_messages_arrive_as_events(sender):
    name, out = sender
    q = EventQueue()
    with MidiInput(q, WallClock(), f"{name}*", cc14=[(0, 1)]) as inp:
        assert inp.connected and name in inp.port_name and "connected" in inp.status
        assert name in " ".join(list_midi_ports()["inputs"])
        c = Collector(q)
        send_paced(out, [M("control_change", channel=0, control=7, value=127),
                         M("control_change", channel=0, control=1, value=64),
                         M("control_change", channel=0, control=33, value=0),
                         M("note_on", channel=9, note=36, velocity=100),
                         M("note_off", channel=9, note=36),
                         M("pitchwheel", channel=3, pitch=-8192),
                         M("aftertouch", channel=0, value=127),
                         M("polytouch", channel=0, note=60, value=127),
                         M("program_change", channel=4, program=12)])
        ev = c.until(lambda ev: len(ev) >= 9)
        assert [(e.source, e.address, round(e.value, 4)) for e in ev] == [
            ("midi", "midi/cc/0/7", 1.0), ("midi", "midi/cc/0/1", round(8192 / 16383, 4)),
            ("midi", "midi/cc/0/1", round(8192 / 16383, 4)), ("midi", "midi/note/9/36", round(100 / 127, 4)),
            ("midi", "midi/note/9/36", 0.0), ("midi", "midi/pitchbend/3", -1.0), ("midi", "midi/aftertouch/0", 1.0),
            ("midi", "midi/polytouch/0/60", 1.0), ("midi", "midi/program/4", 12.0)]
        assert all(e.time <= inp.clock.now() for e in ev)


JACK_SPACING = 0.008   # s: more than one period of the test's JACK server (256 frames at 48 kHz)


def play_clock(out, bpm: float, beats: int) -> list[float]:
    """Send start, beats * 24 + 1 clock ticks at `bpm`, and stop; returns when each tick left
    (perf_counter).  A sender that fell behind (this test's own thread starved on a loaded
    machine) catches up, but never sends two messages within JACK_SPACING: two in one JACK period
    make rtmidi's JACK output send one twice and lose the next (seen here: 120 ticks of 121
    arrived, the beats came out [0..4] instead of [0..5])."""
    out.send(M("start"))
    time.sleep(JACK_SPACING)
    t0 = time.perf_counter()
    sent = []
    for k in range(24 * beats + 1):
        due = t0 + k * 60.0 / (bpm * 24)
        if sent:
            due = max(due, sent[-1] + JACK_SPACING)
        while time.perf_counter() < due:
            time.sleep(0.0005)
        sent.append(time.perf_counter())
        out.send(M("clock"))
    time.sleep(JACK_SPACING)
    out.send(M("stop"))
    return sent


def clock_run(name, out, bpm, beats, tries=3, stall=0.25):
    """(events, send times of the ticks) of a clock played into a MidiInput.

    Played again (up to `tries` times, every check unchanged) when the run did not play the
    clock asked for: its sender stalled for more than `stall` s (this test's own thread on a
    loaded machine), or JACK itself lost a message on the way: a second, independent input on
    the same port (its own connection and reading thread) is the witness.  A message the
    witness got and the input under test did not is not replayed: the checks then fail."""
    expected = 24 * beats + 1 + 2            # ticks, start, stop
    for attempt in range(tries):
        q = EventQueue()
        clock = WallClock()
        with MidiInput(q, clock, f"{name}*") as inp, MidiInput(EventQueue(), clock, f"{name}*") as witness:
            assert inp.connected and wait_for(lambda: witness.connected)
            c = Collector(q)
            sent = play_clock(out, bpm, beats)
            ev = c.until(lambda ev: any(e.address == "clock/midi/stop" for e in ev))
            wait_for(lambda: witness.stats["received"] >= expected, timeout=1.0)
            witnessed = witness.stats["received"]
        step = 60.0 / (bpm * 24)
        worst = max(t - (sent[0] + k * step) for k, t in enumerate(sent))
        if worst <= stall and witnessed == expected:
            return ev, [clock.to_clock_time(t) for t in sent]
    pytest.fail(f"no clean run in {tries} tries: the sender stalled or JACK lost messages "
                f"(last: {worst * 1e3:.0f} ms late, the witness got {witnessed} of {expected})")


def test_real_midi_clock_at_120_bpm(sender):
    name, out = sender
    ev, sent = clock_run(name, out, 120.0, 5)
    addresses = [e.address for e in ev]
    assert addresses[0] == "clock/midi/start"
    assert [e.value for e in ev if e.address == "clock/beat"] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    bpms = [e.value for e in ev if e.address == "clock/midi/bpm"]
    assert bpms and abs(bpms[-1] - 120.0) <= 2.0, bpms
    # each beat is stamped when its tick was sent (within 50 ms), so beats are 0.5 s apart
    # exactly as far as the sender kept time (a loaded machine may delay the sender itself)
    beat_times = [e.time for e in ev if e.address == "clock/beat"]
    sent_beats = sent[::24]
    assert all(0.0 <= got - when < 0.05 for got, when in zip(beat_times, sent_beats)), \
        [round(got - when, 4) for got, when in zip(beat_times, sent_beats)]


def test_real_midi_clock_at_100_bpm_reads_steady(sender):
    """The issue's case: a steady 100 bpm source over JACK reads 99.5..100.5 once 2 s are in."""
    name, out = sender
    # this checks steadiness to 0.5 %: a run whose own sender slipped by more than 15 ms did not
    # play a steady clock, and is played again
    ev, sent = clock_run(name, out, 100.0, 6, tries=5, stall=0.015)
    late = [e.value for e in ev if e.address == "clock/midi/bpm" and e.time - sent[0] >= 2.0]
    assert len(late) >= 3 and all(abs(b - 100.0) <= 0.5 for b in late), late


def test_led_feedback_reaches_the_controller_only_on_change(jack_server):
    name = f"lp-leds-{uuid.uuid4().hex[:6]}"
    received = []
    leds = _open_input(midi_backend(), name, received.append, virtual=True)
    fb = MidiFeedback(f"*{name}*")
    try:
        assert "connected" in fb.status
        assert fb.send_cc(0, 7, 1.0) and fb.send_note(0, 36, 0.5)
        assert not fb.send_cc(0, 7, 1.0)  # unchanged: nothing sent
        assert fb.send_address("midi/cc/0/7", 0.0)
        assert fb.send_cc14(0, 1, 0.5)
        with pytest.raises(ValueError):
            fb.send_address("osc/fader", 1.0)
        assert wait_for(lambda: len(received) >= 5)
        time.sleep(0.05)
        assert [(m.type, m.channel, getattr(m, "control", getattr(m, "note", None)), getattr(m, "value", getattr(m, "velocity", None)))
                for m in received] == [("control_change", 0, 7, 127), ("note_on", 0, 36, 64),
                                       ("control_change", 0, 7, 0), ("control_change", 0, 1, 64),
                                       ("control_change", 0, 33, 0)]
        assert fb.stats["sent"] == 4
    finally:
        fb.close()
        leds.close()


def test_hot_plug_reports_once_and_reconnects(sender, caplog):
    caplog.set_level(logging.INFO, logger="latentperform.inputs.midi")
    name, out = sender
    q = EventQueue()
    with MidiInput(q, WallClock(), f"{name}*", poll=0.1) as inp:
        c = Collector(q)
        out.send(M("control_change", channel=0, control=1, value=1))
        c.until(lambda ev: len(ev) == 1)
        out.close()
        assert wait_for(lambda: "went away" in inp.status)
        time.sleep(0.35)  # several more looks at the port list: still one report
        assert caplog.text.count("went away") == 1 and not inp.connected
        out = midi_backend().open_output(name, virtual=True)
        try:
            assert wait_for(lambda: inp.connected)
            assert "connected" in inp.status
            time.sleep(0.05)
            out.send(M("control_change", channel=0, control=1, value=127))
            c.until(lambda ev: len(ev) == 2 and ev[-1].value == 1.0)
        finally:
            out.close()


def test_a_port_missing_at_start_is_waited_for(jack_server, caplog):
    caplog.set_level(logging.INFO, logger="latentperform.inputs.midi")
    name = f"lp-late-{uuid.uuid4().hex[:6]}"
    q = EventQueue()
    with MidiInput(q, WallClock(), f"{name}*", poll=0.1) as inp:
        assert not inp.connected and "not found" in inp.status
        time.sleep(0.3)
        assert caplog.text.count("not found") == 1
        out = midi_backend().open_output(name, virtual=True)
        try:
            assert wait_for(lambda: inp.connected)
            time.sleep(0.05)
            out.send(M("note_on", channel=0, note=60, velocity=127))
            Collector(q).until(lambda ev: [e.address for e in ev] == ["midi/note/0/60"])
        finally:
            out.close()


def test_feedback_resends_everything_after_the_controller_returns(jack_server):
    name = f"lp-leds-{uuid.uuid4().hex[:6]}"
    received = []
    leds = _open_input(midi_backend(), name, received.append, virtual=True)
    fb = MidiFeedback(f"*{name}*", poll=0.1)
    try:
        assert fb.send_cc(0, 7, 1.0)
        assert wait_for(lambda: len(received) == 1)
        leds.close()
        assert wait_for(lambda: "went away" in fb.status)
        assert not fb.send_cc(0, 7, 0.5)  # nowhere to send: not sent, not forgotten
        leds = _open_input(midi_backend(), name, received.append, virtual=True)
        assert wait_for(lambda: "connected" in fb.status)
        time.sleep(0.05)
        assert fb.send_cc(0, 7, 0.5)
        assert wait_for(lambda: len(received) == 2)
        assert received[-1].value == 64
    finally:
        fb.close()
        leds.close()


def test_an_input_never_opens_our_own_feedback_output(jack_server):
    """Our feedback output is readable like any port: an input pattern that matches it (say "*")
    must not pick it, or the show would hear its own LEDs."""
    from latentperform.inputs.midi import OWN_CLIENT
    name = f"lp-leds-{uuid.uuid4().hex[:6]}"
    leds = _open_input(midi_backend(), name, lambda m: None, virtual=True)
    fb = MidiFeedback(f"*{name}*")
    try:
        assert "connected" in fb.status
        assert any(n.startswith(OWN_CLIENT) for n in list_midi_ports()["inputs"])  # readable ...
        for pattern in (f"{OWN_CLIENT}*", "*feedback*"):                           # ... but not for us
            with MidiInput(EventQueue(), WallClock(), pattern) as inp:
                assert not inp.connected and "not found" in inp.status, inp.status
    finally:
        fb.close()
        leds.close()
