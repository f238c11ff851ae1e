"""The inverse of a mapping (patch/feedback.py), checked against the Mapper running forward: a
control set to the value feedback shows must map back onto the parameter's value."""

from __future__ import annotations

import pytest

from latentperform.events import ControlEvent, ParamSpec, ParamState
from latentperform.patch import Mapper, Mapping, apply_curve
from latentperform.patch.feedback import control_value, feedback_value, inverse_curve

SPEC = ParamSpec("latent/truncation", 0.7, 0.0, 2.0)


def forward(mapping: Mapping, x: float) -> ParamState:
    """The parameter's value after one event x on the mapping's source (no smoothing)."""
    mapper = Mapper([mapping], {SPEC.name: SPEC})
    return mapper.apply([ControlEvent("test", mapping.source, x, 1.0)],
                        ParamState(values={SPEC.name: SPEC.default}), 1.0, 0.03)


@pytest.mark.parametrize("curve", ["lin", "exp", "log", "smooth"])
def test_inverse_curve_undoes_the_curve(curve):
    for i in range(101):
        t = i / 100
        assert inverse_curve(curve, apply_curve(curve, t)) == pytest.approx(t, abs=1e-9)
    with pytest.raises(ValueError):
        inverse_curve("wobble", 0.5)


@pytest.mark.parametrize("mapping", [
    Mapping("midi/cc/0/7", "latent/truncation"),
    Mapping("midi/cc/0/7", "latent/truncation", range=(0.3, 1.2), curve="exp"),
    Mapping("midi/cc/0/7", "latent/truncation", range=(1.5, 0.5), curve="log", invert=True),
    Mapping("midi/cc/0/7", "latent/truncation", curve="smooth", input=(0.25, 0.75)),
])
def test_midi_feedback_is_the_mapping_run_backwards(mapping):
    for raw in (0, 1, 30, 64, 100, 126, 127):
        x = raw / 127
        back = feedback_value(mapping, SPEC, forward(mapping, x))
        a, b = mapping.input
        assert back == pytest.approx(min(max(x, min(a, b)), max(a, b)), abs=1e-9), raw


@pytest.mark.parametrize("mapping", [
    Mapping("osc/fader/1", "latent/truncation", input=(0.0, 127.0)),          # a host sending 0..127
    Mapping("osc/knob", "latent/truncation", input=(-1.0, 1.0), curve="exp"),  # a bipolar knob
    Mapping("osc/rev", "latent/truncation", input=(10.0, 0.0), range=(0.2, 1.8), invert=True),
])
def test_osc_feedback_comes_back_in_the_hosts_own_units(mapping):
    a, b = mapping.input
    for k in range(11):
        x = a + (b - a) * k / 10
        state = forward(mapping, x)
        back = control_value(mapping, SPEC, state)
        assert back == pytest.approx(x, abs=1e-9)
        # and sending it back in is a no-op: the control shows exactly what it drives
        assert forward(mapping, back)[SPEC.name] == pytest.approx(state[SPEC.name], abs=1e-9)


def test_feedback_kinds_for_toggles_keyframes_and_what_shows_nothing():
    spec = ParamSpec("engine/freeze", 0.0, 0.0, 1.0)
    toggle = Mapping("midi/note/0/36", "engine/freeze", mode="toggle")
    assert feedback_value(toggle, spec, ParamState(values={"engine/freeze": 1.0})) == 1.0
    assert feedback_value(toggle, spec, ParamState(values={"engine/freeze": 0.0})) == 0.0
    osc_toggle = Mapping("osc/toggle/1", "engine/freeze", mode="toggle", input=(0.0, 127.0))
    assert control_value(osc_toggle, spec, ParamState(values={"engine/freeze": 1.0})) == 127.0
    kf = Mapping("midi/cc/0/32", "latent/keyframe", arg=2.0)
    kspec = ParamSpec("latent/keyframe", 0, 0, 3, kind="trigger")
    assert feedback_value(kf, kspec, ParamState(), keyframe=2) == 1.0
    assert feedback_value(kf, kspec, ParamState(), keyframe=1) == 0.0
    assert feedback_value(kf, kspec, ParamState(), keyframe=None) is None
    tap = Mapping("midi/note/0/40", "clock/tap")
    tspec = ParamSpec("clock/tap", 0, 0, 1, kind="trigger")
    assert feedback_value(tap, tspec, ParamState(beat=4.2)) == 1.0
    assert feedback_value(tap, tspec, ParamState(beat=4.7)) == 0.0
    for quiet in (Mapping("midi/cc/0/43", "clock/bpm", takeover="relative"),        # a step, not a place
                  Mapping("midi/cc/0/48", "latent/direction/0", mode="toggle", range=(0.0, 0.0)),
                  Mapping("midi/cc/0/*", "latent/truncation"),                     # no one control
                  Mapping("midi/cc/0/59", "latent/keyframe/next")):
        assert feedback_value(quiet, spec, ParamState(values={"engine/freeze": 1.0,
                                                               "latent/direction/0": 0.0})) is None
    # a parameter the state does not hold yet shows nothing
    assert feedback_value(Mapping("midi/cc/0/7", "latent/truncation"), SPEC, ParamState()) is None


def test_osc_table_gives_an_xy_pad_both_values_in_one_message():
    from latentperform.patch.feedback import osc_control_values, osc_feedback_table
    specs = {"latent/xy/x": ParamSpec("latent/xy/x", 0.5, 0.0, 1.0), "latent/xy/y": ParamSpec("latent/xy/y", 0.5, 0.0, 1.0),
             SPEC.name: SPEC, "engine/freeze": ParamSpec("engine/freeze", 0.0, 0.0, 1.0)}
    mappings = [Mapping("osc/pad", "latent/xy/y", index=1), Mapping("osc/pad", "latent/xy/x", index=0),
                Mapping("osc/fader", "latent/truncation", input=(0.0, 127.0)),
                Mapping("osc/fader", "engine/freeze"),                      # second mapping: first wins
                Mapping("osc/half", "latent/xy/x", index=1),                # index 0 unmapped: never sent
                Mapping("osc/multi/*", "latent/truncation"),                 # no one address
                Mapping("midi/cc/0/1", "latent/truncation")]                 # not OSC
    table = osc_feedback_table(mappings, specs)
    assert sorted(table) == ["/fader", "/half", "/pad"]
    state = ParamState(values={"latent/xy/x": 0.25, "latent/xy/y": 0.75, "latent/truncation": 1.0,
                               "engine/freeze": 1.0})
    assert osc_control_values(table, state) == {"/pad": (0.25, 0.75), "/fader": (63.5,)}
