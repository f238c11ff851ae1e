"""Every registered generator kind (latentperform/kinds.py) passes the shared contract, loaded
the way a patch loads it; the patch schema and the loader agree on which specs name a kind; and
a kind is registered by one line (shown by registering an existing kind's module under a new
file suffix, and by taking one line away)."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest
import torch

from latentperform import kinds
from latentperform.kinds import GeneratorKind
from latentperform.models import ModelError, describe, load_generator
from latentperform.models.device import device_of
from latentperform.patch import PatchError, parse_patch
from tests.models.contract import GeneratorContract
from tests.models.test_torchscript_plugin import PluginGenerator, TinyScriptable

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/stylegan"


def _torchscript(tmp: Path, suffix: str = ".pt") -> str:
    path = tmp / f"tiny{suffix}"
    torch.jit.save(torch.jit.script(TinyScriptable()), str(path))
    return str(path)


def _plugin(tmp: Path) -> str:
    mod = types.ModuleType("lp_kinds_plugin")
    mod.make = lambda device="cpu", dtype=torch.float32: PluginGenerator(device, dtype)
    sys.modules["lp_kinds_plugin"] = mod
    return "python:lp_kinds_plugin:make"


def _stylegan(tmp: Path) -> str:
    path = FIXTURES / "sg2ada-resnet-32-cond.pkl"  # the smallest: the contract, not the quality
    if not path.is_file():
        pytest.skip(f"no StyleGAN fixture pickle at {path}")
    return str(path)


def _trained(tmp: Path) -> str:
    from latentperform.models.trained import Decoder, Encoder, TrainedConfig, save_trained
    from tests.train.test_train import with_random_styles

    cfg = TrainedConfig(resolution=16, z_dim=8, w_dim=16, base_channels=16)
    save_trained(tmp / "mine.pt", with_random_styles(Decoder(cfg)), Encoder(cfg))
    return str(tmp / "mine.pt")


# one sample spec per registered kind: a kind registered without one fails test_every_kind_has_a_sample
SAMPLES = {
    "builtin": lambda tmp: "builtin:32,seed=2",
    "plugin": _plugin,
    "stylegan": _stylegan,
    "torchscript": _torchscript,
    "trained": _trained,
}


def test_every_registered_kind_has_a_sample_for_the_contract():
    missing = [k.name for k in kinds.GENERATOR_KINDS if k.name not in SAMPLES]
    assert not missing, f"registered kinds without a sample spec in SAMPLES: {missing}"


@pytest.fixture(params=[k.name for k in kinds.GENERATOR_KINDS])
def kind_spec(request, tmp_path_factory):
    name = request.param
    if name not in SAMPLES:
        pytest.fail(f"kind {name!r} is registered but has no sample spec in SAMPLES")
    spec = SAMPLES[name](tmp_path_factory.mktemp(name))
    from latentperform.models.loader import _file_kind
    module = _file_kind(Path(spec)) if kinds.kind_for(spec).is_file else None
    assert (module.__name__ if module else kinds.kind_for(spec).module) == next(
        k.module for k in kinds.GENERATOR_KINDS if k.name == name), "the sample should be read by its kind"
    yield spec
    sys.modules.pop("lp_kinds_plugin", None)


class TestEveryRegisteredKind(GeneratorContract):
    """The whole shared contract, once per registered kind, through load_generator."""

    @pytest.fixture(autouse=True)
    def _spec(self, kind_spec):
        self.spec = kind_spec

    def make_generator(self):
        return load_generator(self.spec, device="cpu", precision="auto")

    def test_lives_where_the_loader_put_it_and_describes_itself(self):
        G = self.make_generator()
        assert device_of(G) == torch.device("cpu")
        d = describe(G)
        assert d["kind"] and d["kind"] != "object" and d["resolution"] == G.resolution


def _schema_takes(kind: str, tmp: Path) -> bool:
    try:
        parse_patch(f'[model]\nkind = "{kind}"\n', base_dir=tmp)
        return True
    except PatchError:
        return False


def _loader_knows(spec: str) -> bool:
    try:
        load_generator(spec)
        return True
    except ModelError as e:
        return "unknown model kind" not in str(e)


@pytest.mark.parametrize("spec", ["model.pkl", "model.PT", "model.ts", "model.pth", "model.onnx",
                                  "model.safetensors", "builtin", "builtin:64", "python:a.b:make", "faces"])
def test_the_schema_and_the_loader_agree_on_what_names_a_kind(spec, tmp_path):
    """Both read the one table: `.pth` (which the loader never loaded) is refused by both."""
    if "." in spec and ":" not in spec:
        (tmp_path / spec).write_bytes(b"not a network")  # exists: only its kind is in question
        spec = str(tmp_path / spec)
    assert _schema_takes(spec, tmp_path) == _loader_knows(spec) == (kinds.kind_for(spec) is not None), spec
    assert not spec.endswith(".pth") or kinds.kind_for(spec) is None


def test_a_kind_is_one_registration_line(tmp_path, monkeypatch):
    """The TorchScript kind's module, registered a second time under a new suffix: one line
    (a GeneratorKind appended to the table), and the schema takes the file, the loader loads
    it, and the contract holds; without the line both refuse it."""
    path = _torchscript(tmp_path, ".jit")
    assert not _schema_takes(path, tmp_path) and not _loader_knows(path)

    table = list(kinds.GENERATOR_KINDS)
    table.append(GeneratorKind("torchscript-jit", "latentperform.models.torchscript", suffixes=(".jit",)))
    monkeypatch.setattr(kinds, "GENERATOR_KINDS", table)

    assert _schema_takes(path, tmp_path) and "kind" in describe(load_generator(path))
    contract = type("JitContract", (GeneratorContract,), {"make_generator": lambda self: load_generator(path)})()
    for name in dir(contract):
        if name.startswith("test_"):
            getattr(contract, name)()
