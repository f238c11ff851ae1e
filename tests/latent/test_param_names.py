"""The names the patch validator accepts are exactly the trajectory's parameters, and every
parameter has a documented OSC address under /lp/."""

from __future__ import annotations

from latentperform.latent import LatentSpace, Trajectory
from latentperform.patch import engine_param_specs
from latentperform.patch.params import (LATENT_CHROMA, LATENT_CONTINUOUS, LATENT_DIRECTION, LATENT_TRIGGERS,
                                        LATENT_VECTORS)


def specs():
    return Trajectory({}, [1, 2], LatentSpace(8, 8, 4), None, seed=0).param_specs()


def test_patch_knows_every_trajectory_parameter():
    names = {s.name for s in specs() if not (LATENT_DIRECTION.match(s.name) or LATENT_CHROMA.match(s.name))}
    assert names == set(LATENT_CONTINUOUS) | set(LATENT_TRIGGERS) | set(LATENT_VECTORS)
    triggers = {s.name for s in specs() if s.kind == "trigger"}
    assert triggers == set(LATENT_TRIGGERS)


def test_every_parameter_has_an_osc_address_and_a_sane_range():
    all_specs = specs() + engine_param_specs(128.0)
    addresses = [s.osc for s in all_specs]
    assert all(a and a.startswith("/lp/") for a in addresses)
    assert len(set(addresses)) == len(addresses)
    for s in all_specs:
        assert s.min <= s.default <= s.max or s.kind == "trigger", s
        assert s.doc
    assert {s.name: s.osc for s in all_specs}["clock/bpm"] == "/lp/tempo"
    assert [s.default for s in engine_param_specs(128.0) if s.name == "clock/bpm"] == [128.0]


def test_chroma_weights_are_targets_for_the_twelve_pitch_classes():
    from latentperform.patch.params import target_problem
    assert target_problem("latent/chroma") is None
    assert all(target_problem(f"latent/chroma/{k}") is None for k in range(12))
    assert "0..11" in target_problem("latent/chroma/12")
