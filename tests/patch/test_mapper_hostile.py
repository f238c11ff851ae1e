"""Hostile values never reach a parameter or a trigger (issue 12, item 3): whatever number (or
not-a-number) arrives, direct or through any kind of mapping, every parameter stays finite and
inside its spec, every trigger argument too, and the mapper keeps working afterwards."""

from __future__ import annotations

import math
import random

from latentperform.events import ControlEvent, ParamSpec, ParamState
from latentperform.patch import Mapper, Mapping, engine_param_specs

SPECS = {s.name: s for s in [
    ParamSpec("latent/speed", 1.0, -4.0, 8.0),
    ParamSpec("latent/truncation", 1.0, 0.0, 2.0),
    ParamSpec("latent/xy", 0.0, 0.0, 1.0, args="ff"),
    ParamSpec("latent/xy/x", 0.5, 0.0, 1.0),
    ParamSpec("latent/xy/y", 0.5, 0.0, 1.0),
    ParamSpec("latent/keyframe", 0.0, 0.0, 7.0, kind="trigger", args="i"),
    ParamSpec("latent/pulse/hit", 1.0, 0.0, 4.0, kind="trigger"),
    *engine_param_specs(120.0),
]}

HOSTILE = [float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 3.4e38, -0.0, 1e-320,
           (float("nan"), 0.5), (float("inf"), float("-inf")), (), "text", None, (1e308,)]

MAPPINGS = [
    Mapping.from_dict({"source": "osc/fader", "target": "latent/truncation"}),
    Mapping.from_dict({"source": "osc/fader", "target": "latent/speed", "curve": "exp", "smooth": 0.1}),
    Mapping.from_dict({"source": "osc/env", "target": "latent/truncation", "release": 0.2}),
    Mapping.from_dict({"source": "osc/enc", "target": "latent/speed", "takeover": "relative"}),
    Mapping.from_dict({"source": "osc/pick", "target": "latent/speed", "takeover": "pickup"}),
    Mapping.from_dict({"source": "osc/kf/*", "target": "latent/keyframe", "arg": "*"}),
    Mapping.from_dict({"source": "osc/hit", "target": "latent/pulse/hit", "mode": "trigger"}),
    Mapping.from_dict({"source": "osc/q", "target": "latent/pulse/hit", "mode": "trigger", "quantize": "beat"}),
    Mapping.from_dict({"source": "osc/bpm", "target": "clock/bpm"}),
]
ADDRESSES = ["param/latent/truncation", "param/latent/speed", "param/latent/xy", "param/clock/bpm",
             "trigger/latent/pulse/hit", "trigger/latent/keyframe", "param/latent/pulse/hit", "clock/tempo",
             "osc/fader", "osc/env", "osc/enc", "osc/pick", "osc/kf/3", "osc/kf/99999", "osc/hit", "osc/q",
             "osc/bpm", "trigger/clock/tap"]


def check(state: ParamState) -> None:
    for name, v in state.values.items():
        spec = SPECS.get(name)
        assert math.isfinite(v), (name, v)
        if spec is not None:
            assert spec.min <= v <= spec.max, (name, v)
    for name, arg in state.triggers:
        spec = SPECS[name]
        assert math.isfinite(arg) and spec.min <= arg <= spec.max, (name, arg)
    assert math.isfinite(state.tempo) and 20.0 <= state.tempo <= 400.0


def test_every_hostile_value_at_every_address_is_finite_and_clamped():
    mapper = Mapper(MAPPINGS, SPECS)
    state = ParamState(values={n: s.default for n, s in SPECS.items() if s.kind != "trigger"}, tempo=120.0)
    t = 0.0
    fired = 0
    for address in ADDRESSES:
        for value in HOSTILE:
            t += 0.01
            state = mapper.apply([ControlEvent("osc", address, value, t)], state, t, 0.01)
            check(state)
            fired += len(state.triggers)
    assert fired > 0  # infinities fire triggers at the end of their range; NaN fires nothing
    # the mapper still works: a normal value lands where it should
    t += 0.01
    state = mapper.apply([ControlEvent("osc", "param/latent/truncation", 0.25, t),
                          ControlEvent("osc", "trigger/latent/pulse/hit", 2.0, t)], state, t, 0.01)
    assert state["latent/truncation"] == 0.25 and state.triggers == (("latent/pulse/hit", 2.0),)


def test_a_huge_pulse_hit_is_clamped_to_its_documented_range():
    mapper = Mapper([], SPECS)
    state = ParamState(values={}, tempo=120.0)
    state = mapper.apply([ControlEvent("osc", "trigger/latent/pulse/hit", 3.4e38, 0.1)], state, 0.1, 0.01)
    assert state.triggers == (("latent/pulse/hit", 4.0),)
    state = mapper.apply([ControlEvent("osc", "trigger/latent/keyframe", -1e9, 0.2)], state, 0.2, 0.01)
    assert state.triggers == (("latent/keyframe", 0.0),)


def test_random_mixtures_never_escape_the_specs():
    rng = random.Random(3)
    mapper = Mapper(MAPPINGS, SPECS)
    state = ParamState(values={n: s.default for n, s in SPECS.items() if s.kind != "trigger"}, tempo=120.0)
    numbers = [0.0, 0.5, 1.0, -1.0, 127.0, 1e6, -1e6, *[v for v in HOSTILE if isinstance(v, float)]]
    t = 0.0
    for _ in range(400):
        t += rng.choice([0.0, 0.001, 0.02, 1.0])
        events = [ControlEvent("osc", rng.choice(ADDRESSES),
                               rng.choice(numbers) if rng.random() < 0.7 else rng.choice(HOSTILE), t)
                  for _ in range(rng.randint(0, 5))]
        state = mapper.apply(events, state, t, rng.choice([0.0, 0.016, 1.0]))
        check(state)
