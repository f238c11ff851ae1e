"""The "stylegan" generator kind: a StyleGAN2, StyleGAN2-ADA or StyleGAN3 network pickle from
NVlabs' code, read by the allow-list unpickler (safe_pickle.py: nothing in the file runs) into
our own classes (stylegan2.py, stylegan3.py).  Registered in latentperform/kinds.py."""

from __future__ import annotations

from pathlib import Path

from .base import Generator, LoadHints, ModelError
from .device import Placement, apply_precision, resolve
from .safe_pickle import load_network_pickle


def load(spec: str, placement: Placement, hints: LoadHints) -> Generator:
    """The network in the pickle at `spec`, on placement.device, in its precision (see
    device.apply_precision; "reference" reproduces the arithmetic of the code that wrote it),
    accelerated as hints.accelerate says."""
    from .stylegan2 import StyleGAN2Generator
    from .stylegan3 import StyleGAN3Generator

    path = Path(spec)
    po = load_network_pickle(path)
    try:
        if po.find("synthesis.input") is not None:
            G = StyleGAN3Generator.from_persistent(po, path.name)
        else:
            G = StyleGAN2Generator.from_persistent(po, path.name)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ModelError(f"{path.name}: not a StyleGAN network this loader understands "
                         f"({type(e).__name__}: {e})") from None
    G = G.to(placement.device)
    apply_precision(G, placement)
    try:
        G.accelerate(hints.accelerate, batch=1)
    except ValueError as e:
        raise ModelError(str(e)) from None
    return G


def load_stylegan_pickle(path: str | Path, device="cpu", precision: str = "fp32",
                         accelerate: str = "eager") -> Generator:
    """One pickle, uncached (load_generator caches)."""
    return load(str(path), resolve(device, precision), LoadHints(accelerate=accelerate))
