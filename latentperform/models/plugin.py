"""Plugin generators: `python:package.module:factory`.

The module is imported (it is code you installed or wrote: this kind runs Python by design) and
`factory(device=..., dtype=...)` is called (or `factory()` if it takes no such arguments).  The
result must satisfy the `Generator` protocol; what is missing or wrong is named in the error.
"""

from __future__ import annotations

import importlib
import inspect

import torch

from .base import Generator, ModelError

_INT_ATTRS = ("z_dim", "c_dim", "w_dim", "num_ws", "resolution", "img_channels")
_METHODS = ("mapping", "synthesis", "__call__")


def parse_spec(spec: str) -> tuple[str, str]:
    body = spec[len("python:"):] if spec.startswith("python:") else spec
    module, sep, factory = body.partition(":")
    if not sep or not module or not factory or not all(p.isidentifier() for p in module.split(".")) \
            or not factory.isidentifier():
        raise ModelError(f"plugin spec must look like python:package.module:factory, got {spec!r}")
    return module, factory


def validate_generator(G: object, source: str) -> Generator:
    """Check G against the Generator protocol; raise a ModelError naming what is wrong."""
    problems = []
    for name in _INT_ATTRS:
        v = getattr(G, name, None)
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if name == "c_dim" else 1):
            problems.append(f"{name} (got {v!r})")
    w_avg = getattr(G, "w_avg", None)
    w_dim = getattr(G, "w_dim", None)
    if not isinstance(w_avg, torch.Tensor) or tuple(w_avg.shape) != (w_dim,):
        problems.append(f"w_avg as a ({w_dim},) tensor")
    for name in _METHODS:
        if not callable(getattr(G, name, None)):
            problems.append(f"method {name}()")
    if problems:
        raise ModelError(f"{source}: {type(G).__name__} is not a Generator: missing or wrong "
                         + ", ".join(problems))
    return G  # type: ignore[return-value]


def load_plugin(spec: str, device: str | torch.device = "cpu",
                dtype: torch.dtype = torch.float32) -> Generator:
    module_name, factory_name = parse_spec(spec)
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ModelError(f"{spec}: cannot import {module_name} ({e})") from None
    except (Exception, SystemExit) as e:  # the plugin's own code failed while importing
        raise ModelError(f"{spec}: importing {module_name} failed ({_one_line(e)})") from None
    factory = getattr(module, factory_name, None)
    if not callable(factory):
        raise ModelError(f"{spec}: {module_name} has no callable {factory_name}")
    try:
        params = inspect.signature(factory).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {}
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if "device" in params or takes_any:
        kwargs["device"] = device
    if "dtype" in params or takes_any:
        kwargs["dtype"] = dtype
    try:
        G = factory(**kwargs)
    except ModelError:
        raise
    except (Exception, SystemExit) as e:
        raise ModelError(f"{spec}: the factory failed ({_one_line(e)})") from None
    try:
        return validate_generator(G, spec)
    except ModelError:
        raise
    except Exception as e:  # an attribute that raises when read
        raise ModelError(f"{spec}: checking the generator failed ({_one_line(e)})") from None


def _one_line(e: BaseException) -> str:
    if isinstance(e, SystemExit):
        return f"it called sys.exit({e.code!r})"
    text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
    return f"{type(e).__name__}: {text}" if text else type(e).__name__


def load(spec: str, placement, hints) -> Generator:
    """The "plugin" generator kind (registered in latentperform/kinds.py): the factory gets the
    resolved device and dtype and builds the network there; nothing moves it afterwards."""
    if placement.reference:
        raise ModelError(f"{spec}: precision \"reference\" is for StyleGAN pickles")
    return load_plugin(spec, placement.device, placement.dtype)
