"""Reading NVlabs StyleGAN `.pkl` files without running anything in them.

A StyleGAN2-ADA / StyleGAN3 pickle stores every network as a call of
`torch_utils.persistence._reconstruct_persistent_obj(meta)`, where `meta['module_src']` is the
full Python source of the module that defined the class; NVIDIA's loader `exec`s it, so a plain
`pickle.load` of such a file runs whatever code the file carries.

`SafeUnpickler` resolves only the handful of globals these files need (the table in
../shared/specs/stylegan-pickles.md):

  - `_reconstruct_persistent_obj` becomes `PersistentObject`, an inert record of the class name
    and the pickled `state` (the module's `__dict__`); `module_src` is dropped unread;
  - `dnnlib.util.EasyDict` becomes a plain dict subclass;
  - tensors are rebuilt by torch's own functions, wrapped so that no hooks come along; a
    storage blob goes through `torch.load(..., weights_only=True)`, torch's restricted loader;
  - numpy arrays, dtypes and scalars, `OrderedDict`, `set`, `_codecs.encode` are the real ones;
  - anything else (`os.system`, `builtins.eval`, `subprocess.Popen`, a class from `training.*`) is
    refused with a `ModelError` naming the global, before anything is called.

Persistent ids (the `persistent_load` hook) never occur in these files and are refused too.
"""

from __future__ import annotations

import codecs
import collections
import io
import pickle
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .base import ModelError


class EasyDict(dict):
    """Stand-in for `dnnlib.util.EasyDict`: a dict whose keys also read as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value


class PersistentObject:
    """What `torch_utils.persistence` pickled: class name and the instance's `__dict__`.

    Nothing of the defining module is kept or run.  `state` holds `_parameters`, `_buffers`,
    `_modules` (children, themselves PersistentObjects) and the class's plain attributes.
    """

    __slots__ = ("class_name", "version", "state")

    def __init__(self, class_name: str, version: int, state: dict) -> None:
        self.class_name = class_name
        self.version = version
        self.state = state

    def __repr__(self) -> str:
        return f"PersistentObject({self.class_name!r})"

    # the module-tree views used by the network builders
    @property
    def children(self) -> dict[str, "PersistentObject"]:
        return {k: v for k, v in (self.state.get("_modules") or {}).items() if v is not None}

    def attr(self, name: str, default: Any = None) -> Any:
        return self.state.get(name, default)

    def tensors(self, prefix: str = "") -> dict[str, torch.Tensor]:
        """The module's state_dict: parameters and buffers of it and its children, dotted names."""
        out: dict[str, torch.Tensor] = {}
        for table in ("_parameters", "_buffers"):
            for name, t in (self.state.get(table) or {}).items():
                if t is not None:
                    out[prefix + name] = t.detach() if isinstance(t, torch.Tensor) else t
        for name, child in self.children.items():
            if isinstance(child, PersistentObject):
                out.update(child.tensors(f"{prefix}{name}."))
        return out

    def find(self, dotted: str) -> "PersistentObject | None":
        node: PersistentObject | None = self
        for part in dotted.split("."):
            if node is None:
                return None
            node = node.children.get(part)
        return node


def _reconstruct_persistent_obj(meta: Any) -> PersistentObject:
    if not isinstance(meta, dict) or meta.get("type") != "class" or "state" not in meta:
        raise ModelError("not a StyleGAN network: a persistent object without a class record")
    state = meta["state"]
    if not isinstance(state, dict):
        raise ModelError("not a StyleGAN network: a persistent object whose state is not a dict")
    return PersistentObject(str(meta.get("class_name", "?")), int(meta.get("version", 0)), state)


def _load_storage(blob: bytes) -> Any:
    """A storage that torch pickled as `torch.save` bytes, read by torch's restricted loader."""
    if not isinstance(blob, (bytes, bytearray)):
        raise ModelError("damaged tensor storage (not bytes)")
    try:
        storage = torch.load(io.BytesIO(bytes(blob)), weights_only=True, map_location="cpu")
    except Exception as e:  # torch raises several types for damaged or hostile blobs
        raise ModelError(f"damaged or unexpected tensor storage: {_first_line(e)}") from None
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise ModelError(f"a tensor storage blob held {type(storage).__name__}, not a storage")
    return storage


def _rebuild_tensor(storage, storage_offset, size, stride, requires_grad=False, backward_hooks=None,
                    metadata=None) -> torch.Tensor:
    if not isinstance(storage, (torch.TypedStorage, torch.UntypedStorage)):
        raise ModelError("damaged tensor record (its storage is not a storage)")
    # hooks and metadata are dropped: an inference network has no use for them
    return torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, False,
                                           collections.OrderedDict())


def _rebuild_parameter(data, requires_grad=False, backward_hooks=None, state=None) -> torch.Tensor:
    if not isinstance(data, torch.Tensor):
        raise ModelError("damaged parameter record (its data is not a tensor)")
    return torch.nn.Parameter(data, requires_grad=False)


def _rebuild_from_type(func, new_type, args, state) -> torch.Tensor:
    if func not in (_rebuild_tensor, _rebuild_parameter) or new_type not in (torch.Tensor,
                                                                             torch.nn.Parameter):
        raise ModelError("unexpected tensor subclass record")
    t = func(*args)
    return t if new_type is torch.Tensor else torch.nn.Parameter(t, requires_grad=False)


def _numpy_global(name: str) -> Any:
    core = getattr(np, "_core", None) or np.core
    return getattr(core.multiarray, name)


# (module, name) -> object.  Both numpy spellings (numpy.core before 2.0, numpy._core after).
_ALLOWED: dict[tuple[str, str], Any] = {
    ("torch_utils.persistence", "_reconstruct_persistent_obj"): _reconstruct_persistent_obj,
    ("dnnlib.util", "EasyDict"): EasyDict,
    ("dnnlib", "EasyDict"): EasyDict,
    ("collections", "OrderedDict"): collections.OrderedDict,
    ("builtins", "set"): set,
    ("builtins", "frozenset"): frozenset,
    ("_codecs", "encode"): codecs.encode,
    ("torch._utils", "_rebuild_tensor_v2"): _rebuild_tensor,
    ("torch._utils", "_rebuild_parameter"): _rebuild_parameter,
    ("torch._utils", "_rebuild_parameter_with_state"): _rebuild_parameter,
    ("torch._tensor", "_rebuild_from_type_v2"): _rebuild_from_type,
    ("torch", "Tensor"): torch.Tensor,
    ("torch.nn.parameter", "Parameter"): torch.nn.Parameter,
    ("torch", "Size"): torch.Size,
    ("torch.storage", "_load_from_bytes"): _load_storage,
    ("numpy", "dtype"): np.dtype,
    ("numpy", "ndarray"): np.ndarray,
}
for _mod in ("numpy.core.multiarray", "numpy._core.multiarray"):
    _ALLOWED[(_mod, "scalar")] = _numpy_global("scalar")
    _ALLOWED[(_mod, "_reconstruct")] = _numpy_global("_reconstruct")
for _dt in ("float16", "float32", "float64", "bfloat16", "int8", "uint8", "int16", "int32", "int64",
            "bool"):
    _ALLOWED[("torch", _dt)] = getattr(torch, _dt)


class SafeUnpickler(pickle.Unpickler):
    """An allow-list unpickler: `find_class` hands out only the globals above."""

    def __init__(self, file, *, source: str = "pickle") -> None:
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            if module.startswith("dnnlib.tflib"):
                raise ModelError(f"{self.source}: a TensorFlow-era StyleGAN pickle ('{module}.{name}'); "
                                 "convert it with stylegan2-ada-pytorch's legacy.py first") from None
            raise ModelError(f"{self.source}: refused to load global '{module}.{name}' (not part of a "
                             "StyleGAN network; nothing from the file was run)") from None

    def persistent_load(self, pid: Any) -> Any:
        raise ModelError(f"{self.source}: refused a persistent reference {str(pid)[:60]!r} "
                         "(StyleGAN pickles have none; nothing from the file was run)")


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return text[0] if text else type(e).__name__


def safe_loads(data: bytes, source: str = "pickle") -> Any:
    """Unpickle `data` through `SafeUnpickler`; every failure is a one-line `ModelError`."""
    if data[:2] == b"PK" and zipfile.is_zipfile(io.BytesIO(data)):
        raise ModelError(f"{source}: a zip archive (a torch.save or TorchScript file?), not a "
                         "StyleGAN pickle; TorchScript generators are loaded from .pt/.ts files")
    if not data:
        raise ModelError(f"{source}: empty file, not a pickle")
    try:
        return SafeUnpickler(io.BytesIO(data), source=source).load()
    except ModelError as e:
        if str(e).startswith(source):
            raise
        raise ModelError(f"{source}: {e}") from None
    except (EOFError, pickle.UnpicklingError) as e:
        what = "not a pickle" if data[0] != 0x80 else "truncated or damaged pickle"
        raise ModelError(f"{source}: {what} ({_first_line(e)})") from None
    except RecursionError:
        raise ModelError(f"{source}: pickle nested too deeply") from None
    except Exception as e:  # a malformed stream trips many different errors in the allowed calls
        what = "damaged" if data[0] == 0x80 else "not a"
        raise ModelError(f"{source}: {what} pickle ({type(e).__name__}: {_first_line(e)})") from None


def safe_load(path: str | Path) -> Any:
    """Read a pickle file through `SafeUnpickler`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ModelError(f"{path}: no such file") from None
    except OSError as e:
        raise ModelError(f"{path}: cannot read ({e.strerror or e})") from None
    return safe_loads(data, source=path.name)


def load_network_pickle(path: str | Path) -> PersistentObject:
    """The generator (`G_ema`, else `G`, else `Gs`) of an NVlabs pickle, as a PersistentObject."""
    name = Path(path).name
    top = safe_load(path)
    if isinstance(top, PersistentObject):
        return top
    if isinstance(top, dict):
        for key in ("G_ema", "G", "Gs"):
            net = top.get(key)
            if isinstance(net, PersistentObject):
                return net
        raise ModelError(f"{name}: a pickle without a generator (keys: "
                         f"{', '.join(map(str, list(top)[:8])) or 'none'}; expected G_ema)")
    if isinstance(top, tuple) and len(top) == 3:
        raise ModelError(f"{name}: a TensorFlow-era StyleGAN pickle; convert it with "
                         "stylegan2-ada-pytorch's legacy.py first")
    raise ModelError(f"{name}: not a StyleGAN network pickle (it holds a {type(top).__name__})")
