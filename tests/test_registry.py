"""The one parameter registry: owners' groups merged, a version that moves on every change, and
readers (the OSC router) that follow it."""

from __future__ import annotations

from latentperform.events import ParamSpec
from latentperform.inputs.osc import OscRouter
from latentperform.registry import ParamRegistry


def test_groups_merge_first_owner_wins_and_the_version_moves_only_on_change():
    reg = ParamRegistry()
    assert reg.version == 0 and len(reg) == 0
    a = ParamSpec("x/a", 0.5, osc="/lp/a")
    assert reg.set_group("core", [a])
    assert reg.version == 1 and reg.specs["x/a"] is a
    assert not reg.set_group("core", [a])              # the same specs again: no change
    assert reg.version == 1
    other = ParamSpec("x/a", 0.9, osc="/lp/other")
    reg.set_group("part", [other, ParamSpec("x/b", osc="/lp/b")])
    assert reg.specs["x/a"] is a                        # the show's own parameter keeps its name
    assert reg.by_osc("/lp/b")[0].name == "x/b" and reg.by_osc("/lp/other") == ()
    version, specs, by_osc = reg.snapshot()
    assert version == reg.version == 2 and set(specs) == {"x/a", "x/b"} and set(by_osc) == {"/lp/a", "/lp/b"}
    reg.set_group("core", [ParamSpec("x/c", osc="/lp/c")])  # an owner replaces its own group
    assert set(reg.specs) == {"x/a", "x/b", "x/c"} and reg.specs["x/a"] is other
    assert reg.remove_group("part") and set(reg.specs) == {"x/c"}
    assert specs.keys() == {"x/a", "x/b"}               # an old snapshot never changes under a reader


def test_the_osc_router_follows_the_registry():
    reg = ParamRegistry({"core": [ParamSpec("latent/speed", 1.0, -4, 8, osc="/lp/speed")]})
    router = OscRouter(reg, report=lambda *args, **kw: None)
    assert [e.address for e in router.route_message("/lp/speed", [2.0], 0.0)] == ["param/latent/speed"]
    assert router.route_message("/lp/shader/tint/red", [0.5], 0.0) == []
    assert router.stats["unknown"] == 1
    reg.set_group("shaders", [ParamSpec("shader/tint/red", 0.0, osc="/lp/shader/tint/red")])
    events = router.route_message("/lp/shader/tint/red", [0.5], 1.0)
    assert [(e.address, e.value) for e in events] == [("param/shader/tint/red", 0.5)]
    assert router.route_message("/lp/shader/*/red", [0.25], 2.0)[0].value == 0.25  # patterns see it too
    assert "/lp/shader/tint/red" in router.addresses
