"""Every registered input kind has the fixed face (LABEL, list_devices, open_inputs), and
`latentperform devices` is a loop over the registry."""

from __future__ import annotations

import inspect

import pytest

from latentperform.clock import WallClock
from latentperform.events import EventQueue
from latentperform.inputs import kinds
from latentperform.inputs.kinds import INPUT_KINDS, device_lines, input_kind


@pytest.mark.parametrize("name", sorted(INPUT_KINDS))
def test_every_kind_has_the_face(name):
    kind = input_kind(name)
    assert isinstance(kind.LABEL, str) and kind.LABEL
    assert callable(kind.list_devices)
    params = list(inspect.signature(kind.open_inputs).parameters)
    assert params[:3] == ["section", "queue", "clock"], params


def test_devices_is_a_loop_over_the_kinds(monkeypatch):
    lines = device_lines()
    for name in INPUT_KINDS:
        assert f"{input_kind(name).LABEL}:" in lines
    # one more kind is one more registry line: an existing module registered under a second name
    monkeypatch.setitem(INPUT_KINDS, "osc-again", "latentperform.inputs.osc")
    assert device_lines().count("OSC:") == 2
    monkeypatch.setitem(INPUT_KINDS, "broken", "latentperform.inputs.no_such_kind")
    out = device_lines()
    assert out[-2] == "broken:" and out[-1].startswith("  unavailable: No module named")
    assert kinds.INPUT_KINDS is INPUT_KINDS


def test_the_osc_kind_opens_a_real_server_from_its_section():
    from types import SimpleNamespace

    from pythonosc.udp_client import SimpleUDPClient

    from latentperform.events import ParamSpec
    section = SimpleNamespace(host="127.0.0.1", port=0)
    q = EventQueue()
    opened = input_kind("osc").open_inputs(section, q, WallClock(), specs=[ParamSpec("latent/speed", osc="/lp/speed")])
    try:
        assert len(opened) == 1
        SimpleUDPClient("127.0.0.1", opened[0].port).send_message("/lp/speed", 0.5)
        import time
        deadline = time.monotonic() + 5
        events = []
        while not events and time.monotonic() < deadline:
            events = list(q.iter_pending())
            time.sleep(0.01)
        assert [(e.address, e.value) for e in events] == [("param/latent/speed", 0.5)]
    finally:
        for o in opened:
            o.close()
