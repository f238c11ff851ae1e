"""Mapper: curves, ranges, smoothing, envelopes, triggers, quantise, takeover, direct addresses."""

from __future__ import annotations

import math

import pytest

from latentperform.events import ControlEvent, ParamSpec, ParamState
from latentperform.patch import Mapper, Mapping, apply_curve, decode_relative, engine_param_specs, match_source

SPECS = {s.name: s for s in [
    ParamSpec("latent/speed", 1.0, -4.0, 8.0),
    ParamSpec("latent/truncation", 1.0, 0.0, 2.0),
    ParamSpec("latent/pulse", 0.0, 0.0, 1.0),
    ParamSpec("latent/xy", 0.0, 0.0, 1.0, args="ff"),
    ParamSpec("latent/xy/x", 0.5, 0.0, 1.0),
    ParamSpec("latent/xy/y", 0.5, 0.0, 1.0),
    ParamSpec("latent/keyframe", 0.0, 0.0, 7.0, kind="trigger", args="i"),
    ParamSpec("latent/keyframe/next", 0.0, 0.0, 1.0, kind="trigger", args=""),
    ParamSpec("latent/pulse/hit", 1.0, 0.0, 4.0, kind="trigger"),
    ParamSpec("shader/feedback/amount", 0.0, 0.0, 1.0),
    ParamSpec("shader/feedback/zoom", 1.0, 0.5, 2.0),
    *engine_param_specs(120.0),
]}


def mapping(**kw) -> Mapping:
    return Mapping.from_dict(kw)


def initial(**overrides) -> ParamState:
    values = {n: s.default for n, s in SPECS.items() if s.kind != "trigger"}
    values.update(overrides)
    return ParamState(values=values, tempo=120.0)


def ev(address: str, value, t: float = 0.0) -> ControlEvent:
    return ControlEvent("test", address, value, t)


class Run:
    """Tick a mapper at a fixed rate, feeding events."""

    def __init__(self, *mappings: Mapping, dt: float = 0.01, **values):
        self.mapper = Mapper(list(mappings), SPECS)
        self.state = initial(**values)
        self.t = 0.0
        self.dt = dt

    def tick(self, *events: ControlEvent) -> ParamState:
        self.t += self.dt
        events = [ControlEvent(e.source, e.address, e.value, self.t) for e in events]
        self.state = self.mapper.apply(events, self.state, self.t, self.dt)
        return self.state

    def value(self, name: str) -> float:
        return self.state[name]


# -- pure helpers ------------------------------------------------------------------------------

def test_curves_by_hand():
    for c in ("lin", "exp", "log", "smooth"):
        assert apply_curve(c, 0.0) == pytest.approx(0.0)
        assert apply_curve(c, 1.0) == pytest.approx(1.0)
    assert apply_curve("lin", 0.3) == 0.3
    assert apply_curve("exp", 0.5) == pytest.approx((math.exp(2) - 1) / (math.exp(4) - 1))
    assert apply_curve("log", 0.5) == pytest.approx(math.log(1 + (math.exp(4) - 1) * 0.5) / 4)
    assert apply_curve("log", apply_curve("exp", 0.37)) == pytest.approx(0.37)
    assert apply_curve("smooth", 0.25) == pytest.approx(3 * 0.0625 - 2 * 0.015625)


def test_match_source():
    assert match_source("midi/cc/0/7", "midi/cc/0/7") == ()
    assert match_source("midi/cc/0/7", "midi/cc/0/8") is None
    assert match_source("midi/cc/0/*", "midi/cc/0/8") == ("8",)
    assert match_source("midi/*/0/*", "midi/note/0/36") == ("note", "36")
    assert match_source("midi/cc/0/*", "midi/cc/0/8/1") is None


def test_relative_decoding():
    assert [decode_relative(v, "twos") for v in (1, 5, 63, 127, 123, 65, 0)] == [1, 5, 63, -1, -5, -63, 0]
    assert [decode_relative(v, "offset") for v in (64, 65, 70, 63, 58)] == [0, 1, 6, -1, -6]


# -- value mappings ------------------------------------------------------------------------------

def test_range_and_curve_by_hand():
    r = Run(mapping(source="a/x", target="latent/speed", range=[0.2, 2.0], curve="exp"))
    r.tick(ev("a/x", 0.5))
    want = 0.2 + 1.8 * (math.exp(2) - 1) / (math.exp(4) - 1)
    assert r.value("latent/speed") == pytest.approx(want)


def test_input_range_invert_and_clip():
    r = Run(mapping(source="midi/x", target="latent/truncation", input=[0, 127], range=[0.0, 1.0], invert=True))
    r.tick(ev("midi/x", 127.0 / 4))
    assert r.value("latent/truncation") == pytest.approx(0.75)
    r.tick(ev("midi/x", 500.0))
    assert r.value("latent/truncation") == pytest.approx(0.0)


def test_range_defaults_to_spec_and_output_clipped_to_spec():
    r = Run(mapping(source="a/x", target="latent/truncation"))
    r.tick(ev("a/x", 0.25))
    assert r.value("latent/truncation") == pytest.approx(0.5)  # spec 0..2
    r = Run(mapping(source="a/x", target="latent/truncation", range=[0.0, 10.0]))
    r.tick(ev("a/x", 1.0))
    assert r.value("latent/truncation") == 2.0


def test_latest_value_wins_within_a_tick():
    r = Run(mapping(source="a/x", target="latent/truncation", range=[0.0, 1.0]))
    r.tick(ev("a/x", 0.1), ev("a/x", 0.9), ev("a/x", 0.4))
    assert r.value("latent/truncation") == pytest.approx(0.4)


def test_one_pole_smoothing_by_hand():
    r = Run(mapping(source="a/x", target="shader/feedback/amount", smooth=0.1), dt=0.01)
    r.tick(ev("a/x", 1.0))
    k = 1 - math.exp(-0.01 / 0.1)
    assert r.value("shader/feedback/amount") == pytest.approx(k)
    r.tick()
    assert r.value("shader/feedback/amount") == pytest.approx(1 - (1 - k) ** 2)
    for _ in range(200):
        r.tick()
    assert r.value("shader/feedback/amount") == pytest.approx(1.0)


def test_nothing_written_before_the_first_event():
    r = Run(mapping(source="a/x", target="latent/truncation", smooth=0.5))
    for _ in range(10):
        r.tick()
    assert r.value("latent/truncation") == 1.0  # the default stays


def test_attack_release_envelope():
    """An onset (one event) makes a pulse that decays with the release time constant."""
    r = Run(mapping(source="audio/onset", target="latent/pulse", attack=0.0, release=0.25), dt=0.01)
    r.tick(ev("audio/onset", 1.0))
    assert r.value("latent/pulse") == pytest.approx(1.0)
    r.tick()
    assert r.value("latent/pulse") == pytest.approx(math.exp(-0.01 / 0.25))
    for _ in range(24):
        r.tick()
    assert r.value("latent/pulse") == pytest.approx(math.exp(-0.25 / 0.25), rel=1e-6)
    for _ in range(500):
        r.tick()
    assert r.value("latent/pulse") == 0.0


def test_attack_rises_gradually():
    r = Run(mapping(source="a/x", target="latent/pulse", attack=0.1, release=0.1), dt=0.01)
    r.tick(ev("a/x", 1.0))
    assert r.value("latent/pulse") == pytest.approx(1 - math.exp(-0.1))
    r.tick(ev("a/x", 1.0))
    assert r.value("latent/pulse") == pytest.approx(1 - math.exp(-0.2))


def test_bang_counts_every_event_as_full():
    r = Run(mapping(source="clock/beat", target="shader/feedback/zoom", range=[1.0, 1.02], release=0.3, bang=True))
    r.tick(ev("clock/beat", 0.0))
    assert r.value("shader/feedback/zoom") == pytest.approx(1.02)


# -- triggers ------------------------------------------------------------------------------------

def test_triggers_kept_in_order_while_values_coalesce():
    r = Run(mapping(source="pad/a", target="latent/keyframe/next"),
            mapping(source="pad/b", target="latent/keyframe", arg=3),
            mapping(source="a/x", target="latent/truncation", range=[0.0, 1.0]))
    s = r.tick(ev("pad/a", 1.0), ev("a/x", 0.2), ev("pad/b", 1.0), ev("a/x", 0.6),
               ev("trigger/latent/pulse/hit", 0.5), ev("pad/a", 0.0), ev("pad/a", 1.0))
    assert s.triggers == (("latent/keyframe/next", 1.0), ("latent/keyframe", 3.0),
                          ("latent/pulse/hit", 0.5), ("latent/keyframe/next", 1.0))
    assert s["latent/truncation"] == pytest.approx(0.6)
    assert r.tick().triggers == ()


def test_trigger_fires_on_the_rising_edge_only():
    r = Run(mapping(source="midi/note/0/36", target="latent/keyframe/next", threshold=0.5))
    assert len(r.tick(ev("midi/note/0/36", 0.8)).fired("latent/keyframe/next")) == 1
    assert r.tick(ev("midi/note/0/36", 0.9)).triggers == ()  # still held
    assert r.tick(ev("midi/note/0/36", 0.0)).triggers == ()  # released
    assert len(r.tick(ev("midi/note/0/36", 0.7)).triggers) == 1


def test_impulses_fire_every_time_after_a_pause():
    r = Run(mapping(source="audio/onset_event", target="latent/pulse/hit"))
    fired = []
    for i in range(12):
        fired.append(len(r.tick(*([ev("audio/onset_event", 1.0)] if i % 3 == 0 else [])).triggers))
    assert fired == [1, 0, 0] * 4


def test_bang_triggers_on_every_event():
    r = Run(mapping(source="clock/beat", target="latent/keyframe/next", bang=True))
    assert len(r.tick(ev("clock/beat", 0.0), ev("clock/beat", 1.0)).triggers) == 2


def test_trigger_every_event():
    r = Run(mapping(source="audio/onset", target="latent/pulse/hit", edge="every"))
    assert len(r.tick(ev("audio/onset", 1.0), ev("audio/onset", 1.0)).triggers) == 2


def test_wildcard_argument_from_the_address():
    r = Run(mapping(source="midi/note/0/*", target="latent/keyframe", arg="*", arg_offset=-36))
    s = r.tick(ev("midi/note/0/38", 1.0), ev("midi/note/0/36", 1.0))
    assert s.fired("latent/keyframe") == [2.0, 0.0]


def test_quantize_waits_for_the_next_beat():
    r = Run(mapping(source="pad", target="latent/keyframe/next", quantize="beat"), dt=0.1)  # 120 bpm
    r.state = r.state.evolve(beat=0.0, time=0.0)
    s = r.tick(ev("pad", 1.0))                      # t = 0.1 s: beat 0.2
    assert s.triggers == () and r.mapper.pending
    fired_at = None
    for _ in range(10):
        s = r.tick()
        if s.triggers:
            fired_at = s.beat
            break
    assert fired_at == pytest.approx(1.0)
    assert s.triggers == (("latent/keyframe/next", 1.0),)
    assert not r.mapper.pending


def test_quantize_bar():
    r = Run(mapping(source="pad", target="latent/keyframe", arg=2, quantize="bar"), dt=0.1)
    r.state = r.state.evolve(beat=4.5, time=0.0, beats_per_bar=4)
    r.tick(ev("pad", 1.0))
    beats = []
    for _ in range(40):
        s = r.tick()
        if s.triggers:
            beats.append(s.beat)
    assert len(beats) == 1 and 8.0 <= beats[0] < 8.0 + 0.2 + 1e-9  # the first tick at or past the bar line


# -- toggle --------------------------------------------------------------------------------------

def test_toggle_flips_between_range_ends():
    r = Run(mapping(source="btn", target="shader/feedback/amount", mode="toggle", range=[0.0, 0.8]))
    r.tick(ev("btn", 1.0))
    assert r.value("shader/feedback/amount") == pytest.approx(0.8)
    r.tick(ev("btn", 0.0))
    assert r.value("shader/feedback/amount") == pytest.approx(0.8)
    r.tick(ev("btn", 1.0))
    assert r.value("shader/feedback/amount") == pytest.approx(0.0)


# -- soft takeover -------------------------------------------------------------------------------

def test_pickup_ignores_the_control_until_it_crosses():
    r = Run(mapping(source="cc", target="latent/truncation", range=[0.0, 1.0], takeover="pickup"),
            **{"latent/truncation": 0.5})
    r.tick(ev("cc", 0.1))
    r.tick(ev("cc", 0.3))
    assert r.value("latent/truncation") == 0.5       # far below: ignored
    assert r.state.newest_input is None               # an ignored control changed nothing
    r.tick(ev("cc", 0.6))                              # crossed 0.5: caught
    assert r.value("latent/truncation") == pytest.approx(0.6)
    r.tick(ev("cc", 0.2))
    assert r.value("latent/truncation") == pytest.approx(0.2)   # follows now


def test_pickup_lets_go_when_something_else_moves_the_parameter():
    r = Run(mapping(source="cc", target="latent/truncation", range=[0.0, 1.0], takeover="pickup"),
            **{"latent/truncation": 0.5})
    r.tick(ev("cc", 0.5))
    assert r.value("latent/truncation") == pytest.approx(0.5)
    r.tick(ev("param/latent/truncation", 0.9))      # OSC moves it
    r.tick(ev("cc", 0.4))
    assert r.value("latent/truncation") == pytest.approx(0.9)
    r.tick(ev("cc", 0.95))                           # crosses 0.9
    assert r.value("latent/truncation") == pytest.approx(0.95)


def test_jump_takes_over_at_once():
    r = Run(mapping(source="cc", target="latent/truncation", range=[0.0, 1.0]), **{"latent/truncation": 0.5})
    r.tick(ev("cc", 0.1))
    assert r.value("latent/truncation") == pytest.approx(0.1)


@pytest.mark.parametrize("encoding,up,down", [("twos", 3, 125), ("offset", 67, 61)])
def test_relative_encoder(encoding, up, down):
    m = mapping(source="enc", target="latent/truncation", range=[0.0, 1.0], takeover="relative",
                encoding=encoding, step=0.01)
    r = Run(m, **{"latent/truncation": 0.5})
    r.tick(ev("enc", up / 127))                       # +3 detents
    assert r.value("latent/truncation") == pytest.approx(0.53)
    r.tick(ev("enc", down / 127))                     # -3 detents
    assert r.value("latent/truncation") == pytest.approx(0.50)
    for _ in range(100):
        r.tick(ev("enc", up / 127))
    assert r.value("latent/truncation") == pytest.approx(1.0)   # stops at the end of the range


def test_relative_works_from_wherever_the_parameter_is():
    m = mapping(source="enc", target="latent/truncation", range=[0.0, 1.0], takeover="relative", step=0.1)
    r = Run(m, **{"latent/truncation": 0.5})
    r.tick(ev("param/latent/truncation", 0.2))
    r.tick(ev("enc", 1 / 127))
    assert r.value("latent/truncation") == pytest.approx(0.3)


# -- direct addresses, tempo ---------------------------------------------------------------------

def test_direct_param_is_clamped_to_its_spec():
    r = Run()
    r.tick(ev("param/latent/truncation", 5.0))
    assert r.value("latent/truncation") == 2.0
    r.tick(ev("param/no/such/thing", 1.0))
    assert "no/such/thing" not in r.state.values


def test_direct_vector_param_sets_its_components():
    r = Run()
    r.tick(ev("param/latent/xy", (0.2, 0.9)))
    assert (r.value("latent/xy/x"), r.value("latent/xy/y")) == (pytest.approx(0.2), pytest.approx(0.9))


def test_direct_trigger():
    r = Run()
    assert r.tick(ev("trigger/latent/keyframe", 4.0)).triggers == (("latent/keyframe", 4.0),)


def test_a_mapping_on_a_direct_address_takes_it_over():
    r = Run(mapping(source="trigger/latent/keyframe/next", target="latent/keyframe/next", quantize="beat"))
    assert r.tick(ev("trigger/latent/keyframe/next", 1.0)).triggers == ()   # waits for the beat


def test_tempo_events_and_tap():
    r = Run()
    s = r.tick(ev("clock/tempo", 90.0))
    assert s["clock/bpm"] == 90.0 and s.tempo == 90.0
    s = r.tick(ev("param/clock/bpm", 1000.0))
    assert s["clock/bpm"] == 400.0
    r = Run(dt=0.5)
    for _ in range(4):
        s = r.tick(ev("trigger/clock/tap", 1.0))
    assert s.fired("clock/tap") == [1.0]
    assert s["clock/bpm"] == pytest.approx(120.0)


def test_newest_input_and_time():
    r = Run(mapping(source="a/x", target="latent/truncation"))
    s = r.tick(ev("a/x", 0.3))
    assert s.newest_input == pytest.approx(r.t) and s.time == pytest.approx(r.t)
    stamp = s.newest_input
    s = r.tick(ev("unmapped/thing", 1.0))
    assert s.newest_input == stamp


def test_unknown_targets_are_skipped_not_fatal():
    m = Mapper([mapping(source="a", target="shader/grade/hue")], SPECS)
    assert [x.target for x in m.skipped] == ["shader/grade/hue"]
    s = m.apply([ev("a", 1.0)], initial(), 0.1, 0.1)
    assert "shader/grade/hue" not in s.values


def test_deterministic_replay():
    maps = [mapping(source="a/x", target="latent/pulse", release=0.2),
            mapping(source="b", target="shader/feedback/amount", smooth=0.3),
            mapping(source="p", target="latent/keyframe/next", quantize="beat")]
    stream = [[ev("a/x", (i * 37 % 11) / 10), ev("b", (i % 7) / 7)] + ([ev("p", 1.0)] if i % 13 == 0 else [])
              for i in range(200)]

    def run():
        r = Run(*maps, dt=1 / 60)
        return [r.tick(*events) for events in stream]

    assert run() == run()


def test_nan_values_are_ignored():
    r = Run(mapping(source="a/x", target="latent/truncation"))
    r.tick(ev("a/x", float("nan")), ev("param/latent/speed", float("nan")))
    assert r.value("latent/truncation") == 1.0 and r.value("latent/speed") == 1.0


def test_hot_reload_carries_the_memory_over():
    maps = [mapping(source="a/x", target="latent/pulse", release=0.5),
            mapping(source="p", target="latent/keyframe/next", quantize="bar")]
    r = Run(*maps, dt=0.01)
    r.tick(ev("a/x", 1.0), ev("p", 1.0))
    level = r.value("latent/pulse")
    new = Mapper(maps + [mapping(source="b", target="latent/truncation")], SPECS)
    new.carry_from(r.mapper)
    r.mapper = new
    r.tick()
    assert r.value("latent/pulse") == pytest.approx(level * math.exp(-0.01 / 0.5))
    assert [name for name, _, _ in new.pending] == ["latent/keyframe/next"]
