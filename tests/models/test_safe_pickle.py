"""Hostile and damaged files are refused with one clear line, and nothing in them is run."""

from __future__ import annotations

import io
import os
import pickle
import subprocess
import sys
import types
import zipfile
from pathlib import Path

import pytest
import torch

from latentperform.models.base import ModelError
from latentperform.models.loader import load_generator
from latentperform.models.safe_pickle import PersistentObject, safe_loads

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/stylegan"


class _Reduce:
    """Pickles as a call of `func(*args)`."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _write(tmp_path: Path, data: bytes, name: str = "model.pkl") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _refused(path: Path, match: str) -> str:
    with pytest.raises(ModelError, match=match) as info:
        load_generator(path)
    text = str(info.value)
    assert "\n" not in text, "a user error is one line"
    assert text.startswith(path.name) or path.name in text
    return text


@pytest.mark.parametrize("func, args, name", [
    (os.system, ("touch {marker}",), f"{os.system.__module__}.system"),
    (subprocess.Popen, (["touch", "{marker}"],), "subprocess.Popen"),
    (eval, ("__import__('pathlib').Path(r'{marker}').touch()",), "builtins.eval"),
    (exec, ("open(r'{marker}', 'w').write('x')",), "builtins.exec"),
])
def test_reduce_globals_are_refused_and_not_called(tmp_path, func, args, name):
    marker = tmp_path / "ran"
    args = tuple(a.format(marker=marker) if isinstance(a, str) else [s.format(marker=marker) for s in a]
                 for a in args)
    data = pickle.dumps({"G_ema": _Reduce(func, *args)}, protocol=4)
    path = _write(tmp_path, data)
    text = _refused(path, "refused to load global")
    assert f"'{name}'" in text
    assert not marker.exists()


def test_handwritten_os_system_protocol0(tmp_path):
    marker = tmp_path / "ran"
    data = f"cos\nsystem\n(S'touch {marker}'\ntR.".encode()
    _refused(_write(tmp_path, data), "refused to load global 'os.system'")  # protocol 0: no header
    data = b"\x80\x02" + b"cos\nsystem\n(X\x00\x00\x00\x00tR."
    _refused(_write(tmp_path, data, "p2.pkl"), "refused to load global 'os.system'")
    assert not marker.exists()


def test_persistent_object_module_source_is_never_executed(tmp_path):
    """A pickle laid out like torch_utils.persistence, whose module_src would write a file."""
    marker = tmp_path / "module_src_ran"
    fake_mod = types.ModuleType("torch_utils.persistence")

    def _reconstruct_persistent_obj(meta):  # pragma: no cover - never called on load
        raise AssertionError

    _reconstruct_persistent_obj.__module__ = "torch_utils.persistence"
    _reconstruct_persistent_obj.__qualname__ = "_reconstruct_persistent_obj"
    fake_mod._reconstruct_persistent_obj = _reconstruct_persistent_obj
    pkg = types.ModuleType("torch_utils")
    pkg.persistence = fake_mod
    sys.modules["torch_utils"], sys.modules["torch_utils.persistence"] = pkg, fake_mod
    try:
        meta = dict(type="class", version=6, class_name="Generator",
                    module_src=f"open(r'{marker}', 'w').write('pwned')\nclass Generator: pass\n",
                    state={"z_dim": 4, "_modules": {}, "_parameters": {}, "_buffers": {}})
        data = pickle.dumps({"G_ema": _Reduce(_reconstruct_persistent_obj, meta)}, protocol=4)
    finally:
        del sys.modules["torch_utils"], sys.modules["torch_utils.persistence"]
    top = safe_loads(data)
    assert isinstance(top["G_ema"], PersistentObject)
    assert top["G_ema"].class_name == "Generator"
    assert not hasattr(top["G_ema"], "module_src")
    _refused(_write(tmp_path, data), "not a StyleGAN generator")
    assert not marker.exists()


def test_hostile_storage_blob_is_refused(tmp_path):
    """A tensor storage whose nested bytes are a pickle calling os.system."""
    marker = tmp_path / "ran"
    inner = pickle.dumps(_Reduce(os.system, f"touch {marker}"), protocol=2)
    data = pickle.dumps({"G_ema": _Reduce(torch.storage._load_from_bytes, inner)}, protocol=4)
    _refused(_write(tmp_path, data), "tensor storage")
    assert not marker.exists()


def test_unexpected_global_in_a_real_layout(tmp_path):
    """Harmless-looking globals outside the allow-list are refused too, by name."""
    data = pickle.dumps({"G_ema": _Reduce(io.BytesIO, b"x"), "D": None}, protocol=4)
    _refused(_write(tmp_path, data), "refused to load global '_io.BytesIO'")


@pytest.mark.skipif(not (FIXTURES / "sg3-t-64.pkl").is_file(), reason=f"fixtures not found at {FIXTURES}")
@pytest.mark.parametrize("fraction", [0.0001, 0.3, 0.999])
def test_truncated_file(tmp_path, fraction):
    data = (FIXTURES / "sg3-t-64.pkl").read_bytes()
    path = _write(tmp_path, data[: max(3, int(len(data) * fraction))])
    _refused(path, "truncated|damaged")


def test_random_bytes(tmp_path):
    data = bytes(torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0)).tolist())
    _refused(_write(tmp_path, data), "not a pickle|refused")
    _refused(_write(tmp_path, b"\x80" + data, "r2.pkl"), "damaged|truncated|refused")


def test_empty_and_missing(tmp_path):
    _refused(_write(tmp_path, b""), "empty file")
    with pytest.raises(ModelError, match="no such model file"):
        load_generator(tmp_path / "absent.pkl")


def test_zip_that_is_not_a_torch_file(tmp_path):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    _refused(_write(tmp_path, buf.getvalue()), "zip archive")
    # and as .pt: not a TorchScript archive either
    path = _write(tmp_path, buf.getvalue(), "model.pt")
    with pytest.raises(ModelError, match="TorchScript"):
        load_generator(path)


def test_torch_save_state_dict_is_not_a_torchscript_generator(tmp_path):
    path = tmp_path / "weights.pt"
    torch.save({"w": torch.zeros(3)}, path)
    with pytest.raises(ModelError, match="TorchScript"):
        load_generator(path)


def test_pickle_of_a_plain_dict(tmp_path):
    data = pickle.dumps({"a": 1, "b": [1, 2, 3]}, protocol=4)
    _refused(_write(tmp_path, data), "without a generator")
    data = pickle.dumps([1, 2, 3], protocol=4)
    _refused(_write(tmp_path, data), "not a StyleGAN network pickle")


def test_unknown_extension(tmp_path):
    with pytest.raises(ModelError, match="unknown model kind"):
        load_generator(_write(tmp_path, b"hello", "model.onnx"))
