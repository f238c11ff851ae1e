"""[[bend]] in a show: the settings are parameters reachable over real UDP OSC, the bent picture
reaches the output of a headless show, a neutral bend leaves the picture as it is, and bad bends
are refused in one line."""

from __future__ import annotations

import socket
import time

import numpy as np
import pytest

from latentperform.clock import WallClock
from latentperform.config import UserError
from latentperform.models import ModelError
from latentperform.patch import parse_patch
from latentperform.render import HeadlessSurface
from latentperform.engine.show import open_live_inputs, open_show
from tests.inputs.osc_sender import message  # python-osc builds the datagram

PATCH = """
[model]
kind = "builtin"
seed = 3
resolution = 64
[output]
fps = 30
size = [64, 64]
shaders = []
[trajectory]
speed = 0.0
[inputs.osc]
port = {port}
[[bend]]
layer = "layer1"
op = "rotate"
angle = 0
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def settled_frame(eng) -> np.ndarray:
    """The output once the newest request's picture is on screen."""
    eng.step()
    eng.worker.wait(timeout=10)
    eng.step()
    return eng.last_pixels.astype(float)


def test_a_bend_moved_over_osc_bends_the_picture_in_a_show(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    port = free_port()
    patch = parse_patch(PATCH.format(port=port))
    surface = HeadlessSurface((64, 64))
    eng = open_show(patch, surface=surface, clock=WallClock(), fps=30.0, stage=False)
    try:
        open_live_inputs(eng, audio=False)
        assert eng.specs["bend/0/angle"].osc == "/lp/bend/0/angle"
        assert not eng.worker.bender.active  # at neutral: no hook on the network
        eng.offline = True  # read the pixels back every tick, no crossfade
        plain = settled_frame(eng)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.sendto(message("/lp/bend/0/angle", 180.0).dgram, ("127.0.0.1", port))
        deadline = time.monotonic() + 10
        while eng.params.get("bend/0/angle") < 179.0 and time.monotonic() < deadline:
            eng.step()
            time.sleep(0.01)
        assert eng.params.get("bend/0/angle") == pytest.approx(180.0)
        bent = settled_frame(eng)
        assert eng.worker.bender.active
        assert np.abs(bent - plain).mean() > 5, "the bend did not reach the picture"
    finally:
        eng.close()
        surface.close()


def test_bad_bends_are_refused_in_one_line():
    surface = HeadlessSurface((32, 32))
    try:
        for body, needle in [('layer = "layr1"\nop = "rotate"', 'did you mean "layer1"'),
                             ('layer = "layer1"\nop = "rotat"', 'did you mean "rotate"'),
                             ('layer = "layer1"\nop = "rotate"\nangel = 3', 'did you mean "angle"')]:
            patch = parse_patch(f'[model]\nkind = "builtin"\n[[bend]]\n{body}\n')
            with pytest.raises(ModelError, match=needle):
                open_show(patch, surface=surface, clock=WallClock(), fps=30.0, offline=True)
        with pytest.raises(UserError, match="no \\[\\[bend\\]\\] tables"):
            parse_patch('[[mapping]]\nsource = "osc/x"\ntarget = "bend/0/angle"\n')
    finally:
        surface.close()
