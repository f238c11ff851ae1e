"""The input door: every source's events in one drain per tick, sorted by time live as in a
replay, so "who moved last" is the same on stage and in a re-render."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from pythonosc.udp_client import SimpleUDPClient

from latentperform.clock import FixedStepClock, WallClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import EnginePart, open_live_inputs, open_show
from latentperform.events import ControlEvent
from latentperform.inputs.replay import ReplayInput
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface


def _patch():
    patch = load_patch(DEFAULT_PATCH)
    return replace(patch, inputs=replace(patch.inputs, audio=replace(patch.inputs.audio, enabled=False)),
                   mappings=())


class Keys(EnginePart):
    """A part whose poll gives events (as the stage keys do)."""

    def __init__(self, events):
        self.events = list(events)

    def poll(self, engine, t):
        events, self.events = self.events, []
        return events


def test_one_drain_is_time_sorted_across_queues_sources_and_parts():
    eng = open_show(_patch(), surface=HeadlessSurface((32, 32)), clock=FixedStepClock(10), fps=10,
                    offline=True, generator=BuiltinGenerator(resolution=16))
    try:
        audio, midi = eng.door.add_queue("audio"), eng.door.add_queue("midi")
        audio.put(ControlEvent("audio", "audio/onset", 1.0, 0.30))
        midi.put(ControlEvent("midi", "midi/note/0/36", 1.0, 0.10))
        audio.put(ControlEvent("audio", "audio/onset", 1.0, 0.20))
        eng.door.add_source(lambda t: [ControlEvent("replay", "osc/x", 0.5, 0.15)])
        eng.add_part(Keys([ControlEvent("key", "trigger/latent/keyframe/next", 0.0, 0.05)]))
        held = []
        eng.door.add_filter(lambda engine, events, t: held.extend(events) or events)
        drained = eng.door.drain(eng, 1.0)
        mine = [e for e in drained if e.source != "music"]
        assert [e.time for e in mine] == [0.05, 0.10, 0.15, 0.20, 0.30]
        assert [e.time for e in drained] == sorted(e.time for e in drained)  # the clock's too
        assert len(held) == len(drained)  # filters see every event of the tick
    finally:
        eng.close()
        eng.surface.close()


def test_live_the_input_that_moved_last_wins_whatever_its_source_as_in_the_replay():
    """OSC over real UDP sets latent/walk first; an audio-thread event sets it later in the same
    tick.  Before the door the sound card's events came first (part order), so the earlier OSC
    value won live, and a replay (sorted) gave the other: now both give the later value."""
    eng = open_show(_patch(), surface=HeadlessSurface((32, 32)), clock=WallClock(), fps=30,
                    generator=BuiltinGenerator(resolution=16))
    try:
        audio = eng.door.add_queue("audio")   # drained before the OSC queue, as the sound card's was
        open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
        osc = eng.inputs[0]
        eng.step()
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/lp/walk", 0.2)
        deadline = time.monotonic() + 5.0
        while osc.stats["events"] < 1 and time.monotonic() < deadline:
            time.sleep(0.005)
        assert osc.stats["events"] == 1, osc.stats
        later = eng.clock.now() + 1e-3
        audio.put(ControlEvent("audio", "param/latent/walk", 0.9, later))
        log = []
        eng.door.add_filter(lambda engine, events, t: log.extend(events) or events)
        eng.step()
        walk = [e for e in log if e.address == "param/latent/walk"]
        assert [e.source for e in walk] == ["osc", "audio"], walk   # in time order
        assert eng.params.get("latent/walk") == pytest.approx(0.9)
    finally:
        eng.close()
        eng.surface.close()

    # the same two events replayed offline: the same winner
    replayed = open_show(_patch(), surface=HeadlessSurface((32, 32)), clock=FixedStepClock(10), fps=10,
                         offline=True, generator=BuiltinGenerator(resolution=16),
                         replay=ReplayInput(walk))
    try:
        while replayed.clock.now() < later + 0.2:
            replayed.step()
        assert replayed.params.get("latent/walk") == pytest.approx(0.9)
    finally:
        replayed.close()
        replayed.surface.close()
