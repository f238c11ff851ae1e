"""The engine takes the network where the loader put it (models/device.py owns the device and
precision): a generator on torch's `meta` device and a stand-in that records every call that
could move or cast it go through the Engine and its worker and are never moved; the patch's
[model] device and precision reach the loader as they are.  The headline bug this guards: the
engine loaded on CUDA, then its worker (device defaulting to "cpu") moved the network back."""

from __future__ import annotations

import sys
import types

import pytest
import torch

from latentperform.clock import FixedStepClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine.show import open_show
from latentperform.models.device import resolve
from latentperform.patch import load_patch, parse_patch
from latentperform.render import HeadlessSurface
from tests.models.test_device import MetaGenerator, Recording


@pytest.fixture
def surface():
    s = HeadlessSurface((64, 36))
    yield s
    s.close()


def _steps(eng, n=3):
    try:
        return [eng.step() for _ in range(n)]
    finally:
        eng.close()


def test_a_meta_generator_goes_through_the_engine_unmoved(surface):
    G = MetaGenerator()
    eng = open_show(load_patch(DEFAULT_PATCH), surface=surface, clock=FixedStepClock(10), fps=10,
                    offline=True, generator=G)
    assert eng.generator is G and eng.worker.device == torch.device("meta")
    _steps(eng)  # meta tensors hold no pixels: each frame fails as a value, the show goes on
    assert G.moved == [] and G.w_avg.device.type == "meta"


@pytest.fixture
def factory():
    """A plugin kind whose factory records what the loader gave it and returns a Recording."""
    made = []
    mod = types.ModuleType("lp_engine_device")

    def make(device="cpu", dtype=torch.float32):
        G = Recording(resolution=24, seed=1, device=device)
        G.moves.clear()
        made.append((torch.device(device), dtype, G))
        return G

    mod.make = make
    sys.modules["lp_engine_device"] = mod
    yield made
    del sys.modules["lp_engine_device"]


@pytest.mark.parametrize("device,precision", [("auto", "auto"), ("cpu", "fp16"), ("cpu", "fp32")])
def test_the_patch_device_and_precision_reach_the_loader_and_nothing_moves_the_network(
        surface, factory, tmp_path, device, precision):
    text = DEFAULT_PATCH.read_text().replace(
        'kind = "builtin"', f'kind = "python:lp_engine_device:make"\ndevice = "{device}"\nprecision = "{precision}"', 1)
    assert "lp_engine_device" in text
    patch = parse_patch(text, tmp_path / "show.toml")
    eng = open_show(patch, surface=surface, clock=FixedStepClock(10), fps=10, offline=True)
    want = resolve(device, precision)
    [(got_device, got_dtype, G)] = factory
    assert (got_device, got_dtype) == (want.device, want.dtype)  # resolved once, by the loader
    assert eng.generator is G and eng.worker.device == G.w_avg.device == want.device
    frames = _steps(eng)
    assert frames[-1] is not None and frames[-1].std() > 0, "the show should render pictures"
    assert G.moves == [], f"the engine or its worker called {G.moves} on the network"
