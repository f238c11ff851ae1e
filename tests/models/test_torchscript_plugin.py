"""TorchScript and plugin generators: loaded through load_generator, both pass the contract."""

from __future__ import annotations

import math
import sys
import types

import pytest
import torch
from torch import nn

from latentperform.models.base import ModelError, truncate
from latentperform.models.loader import load_generator
from latentperform.models.plugin import validate_generator
from tests.models.contract import GeneratorContract


class TinyScriptable(nn.Module):
    """A generator in the documented TorchScript form (mapping/synthesis exported)."""

    def __init__(self, z_dim: int = 8, w_dim: int = 8, num_ws: int = 3, resolution: int = 16) -> None:
        super().__init__()
        self.z_dim, self.w_dim, self.num_ws = z_dim, w_dim, num_ws
        self.resolution, self.img_channels = resolution, 3
        g = torch.Generator().manual_seed(0)
        self.fc = nn.Linear(z_dim, w_dim)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(w_dim, z_dim, generator=g) / math.sqrt(z_dim))
            self.fc.bias.zero_()
        self.to_freq = nn.Parameter(torch.randn(num_ws * w_dim, 3 * 2, generator=g))
        self.register_buffer("w_avg", torch.zeros(w_dim))
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, resolution), torch.linspace(-1, 1, resolution),
                                indexing="ij")
        self.register_buffer("grid", torch.stack([xs, ys]))  # (2, H, W)

    @torch.jit.export
    def mapping(self, z: torch.Tensor, truncation_psi: float) -> torch.Tensor:
        w = torch.tanh(self.fc(z))
        ws = w.unsqueeze(1).expand(-1, self.num_ws, -1)
        return self.w_avg + truncation_psi * (ws - self.w_avg)

    @torch.jit.export
    def synthesis(self, ws: torch.Tensor) -> torch.Tensor:
        f = ws.reshape(ws.shape[0], -1) @ self.to_freq  # (N, 6)
        f = f.reshape(-1, 3, 2, 1, 1)
        phase = (f[:, :, 0] * self.grid[0] + f[:, :, 1] * self.grid[1]) * math.pi
        return torch.sin(phase)

    def forward(self, z: torch.Tensor, truncation_psi: float) -> torch.Tensor:
        return self.synthesis(self.mapping(z, truncation_psi))


class ForwardOnly(nn.Module):
    """The minimal TorchScript form: forward(z, psi) only."""

    def __init__(self) -> None:
        super().__init__()
        self.z_dim = 6
        self.proj = nn.Parameter(torch.randn(6, 3 * 8 * 8, generator=torch.Generator().manual_seed(1)))

    def forward(self, z: torch.Tensor, truncation_psi: float) -> torch.Tensor:
        return torch.tanh(z @ self.proj).reshape(-1, 3, 8, 8)


@pytest.fixture(scope="module")
def script_path(tmp_path_factory):
    path = tmp_path_factory.mktemp("ts") / "tiny.pt"
    torch.jit.save(torch.jit.script(TinyScriptable()), str(path))
    return path


class TestTorchScriptContract(GeneratorContract):
    @pytest.fixture(autouse=True)
    def _path(self, script_path):
        self.path = script_path

    def make_generator(self):
        return load_generator(self.path)


def test_torchscript_attributes_and_truncation(script_path):
    G = load_generator(script_path)
    assert (G.z_dim, G.w_dim, G.num_ws, G.resolution, G.img_channels, G.c_dim) == (8, 8, 3, 16, 3, 0)
    z = torch.randn(2, 8)
    with torch.no_grad():
        img = G(z, truncation_psi=0.5)
        ref = TinyScriptable()(z, 0.5)
    torch.testing.assert_close(img, ref)


def test_forward_only_torchscript(tmp_path):
    path = tmp_path / "fwd.ts"
    torch.jit.save(torch.jit.script(ForwardOnly()), str(path))
    G = load_generator(path)
    assert (G.num_ws, G.w_dim, G.resolution, G.img_channels) == (1, 6, 8, 3)
    z = torch.randn(2, 6)
    with torch.no_grad():
        torch.testing.assert_close(G(z), ForwardOnly()(z, 1.0))
        torch.testing.assert_close(G.mapping(z, truncation_psi=0.0)[:, 0], torch.zeros(2, 6))


def test_torchscript_without_z_dim_is_refused(tmp_path):
    class NoDims(nn.Module):
        def forward(self, z: torch.Tensor, truncation_psi: float) -> torch.Tensor:
            return z.reshape(-1, 1, 2, 2)

    path = tmp_path / "nodims.pt"
    torch.jit.save(torch.jit.script(NoDims()), str(path))
    with pytest.raises(ModelError, match="z_dim"):
        load_generator(path)


# ---- plugins -------------------------------------------------------------------------------------

class PluginGenerator:
    """A plain-Python generator a plugin factory might return."""

    def __init__(self, device="cpu", dtype=torch.float32):
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = 4, 0, 4, 2
        self.resolution, self.img_channels = 8, 3
        self.w_avg = torch.zeros(4, device=device)
        self.proj = torch.randn(4, 3 * 8 * 8, generator=torch.Generator().manual_seed(2))

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        ws = torch.tanh(z).unsqueeze(1).expand(-1, self.num_ws, -1)
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)

    def synthesis(self, ws, noise_mode="const", transform=None):
        return torch.sin(3 * ws.mean(1) @ self.proj).reshape(-1, 3, 8, 8)

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)


@pytest.fixture(scope="module")
def plugin_module():
    mod = types.ModuleType("lp_test_plugin")
    mod.make = lambda device="cpu", dtype=torch.float32: PluginGenerator(device, dtype)
    mod.make_plain = lambda: PluginGenerator()
    mod.make_bad = lambda: object()
    mod.not_callable = 3

    def make_broken():
        raise RuntimeError("no weights here")

    mod.make_broken = make_broken
    sys.modules["lp_test_plugin"] = mod
    yield mod
    del sys.modules["lp_test_plugin"]


class TestPluginContract(GeneratorContract):
    @pytest.fixture(autouse=True)
    def _plugin(self, plugin_module):
        pass

    def make_generator(self):
        return load_generator("python:lp_test_plugin:make")


def test_plugin_factory_forms_and_errors(plugin_module):
    assert isinstance(load_generator("python:lp_test_plugin:make_plain"), PluginGenerator)
    with pytest.raises(ModelError, match="is not a Generator: missing or wrong z_dim"):
        load_generator("python:lp_test_plugin:make_bad")
    with pytest.raises(ModelError, match="no callable not_callable"):
        load_generator("python:lp_test_plugin:not_callable")
    with pytest.raises(ModelError, match="factory failed.*no weights here"):
        load_generator("python:lp_test_plugin:make_broken")
    with pytest.raises(ModelError, match="cannot import"):
        load_generator("python:lp_no_such_module_xyz:make")
    with pytest.raises(ModelError, match="must look like"):
        load_generator("python:lp_test_plugin")


def test_validate_names_every_problem():
    G = PluginGenerator()
    G.w_avg = torch.zeros(3)
    del G.img_channels
    with pytest.raises(ModelError) as info:
        validate_generator(G, "python:x:y")
    assert "img_channels" in str(info.value) and "w_avg" in str(info.value)
