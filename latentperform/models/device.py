"""The one owner of a generator's device and precision.

The loader resolves `[model] device` and `precision` once (`resolve`), builds the network there
and applies the precision (`apply_precision`).  Everyone after it (the inference worker, the
pinned host buffers, the CUDA-GL upload, the directions, the engine) reads the device and dtype
from the generator it is handed (`device_of`, `dtype_of`) and never moves or casts it: a network
on CUDA stays on CUDA.

The vocabulary (auto / fp32 / fp16 / reference, and the device words) is latentperform/kinds.py's,
shared with the patch schema.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..kinds import PRECISIONS
from .base import ModelError


@dataclass(frozen=True)
class Placement:
    """Where and how a generator runs, resolved from the patch's words.

    device     a concrete torch device ("auto" already decided)
    dtype      the arithmetic of the network's half-precision layers: float16 for fp16 (and
               auto on CUDA), else float32
    precision  the word it came from, "auto" resolved to "fp16" or "fp32"; "reference" kept
    """

    device: torch.device
    dtype: torch.dtype = torch.float32
    precision: str = "fp32"

    @property
    def reference(self) -> bool:
        return self.precision == "reference"


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """A torch device; "auto" is CUDA when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ModelError(f"bad device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but CUDA is not available here")
    return dev


def resolve(device: str | torch.device = "auto", precision: str = "auto") -> Placement:
    """[model] device and precision -> a Placement.  auto precision: half on CUDA (where it is
    fast), float32 elsewhere."""
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dev = resolve_device(device)
    if precision == "auto":
        precision = "fp16" if dev.type == "cuda" else "fp32"
    return Placement(dev, torch.float16 if precision in ("fp16", "reference") else torch.float32, precision)


def apply_precision(G, placement: Placement) -> None:
    """Give a freshly built generator the placement's precision, once, at load.  StyleGAN
    networks keep float32 weights and run their fp16 layers in half (`set_precision`); any
    other torch module is cast as a whole for fp16, on CUDA only (half convolutions on a CPU
    are slow and gain nothing); kinds that carry their own precision (TorchScript, plugins that
    take dtype) are left as they are."""
    if hasattr(G, "set_precision"):
        if placement.reference:
            if getattr(G, "source_code", None) == "training.networks":
                G.set_precision(torch.float16, reference=True)  # StyleGAN2-ADA: half on any device
            else:  # the StyleGAN3 repository's code: half on CUDA only
                G.set_precision(torch.float16 if device_of(G).type == "cuda" else torch.float32)
        else:
            G.set_precision(placement.dtype)
    elif placement.reference:
        raise ModelError(f"{type(G).__name__}: precision \"reference\" is for StyleGAN pickles")
    elif (isinstance(G, torch.nn.Module) and placement.dtype == torch.float16
          and placement.device.type == "cuda"):
        G.half()


def device_of(G) -> torch.device:
    """The device a generator lives on: where its w_avg is (every kind has one)."""
    return G.w_avg.device


def dtype_of(G) -> torch.dtype:
    """The dtype a generator takes its ws in: its w_avg's."""
    return G.w_avg.dtype


def run_dtype_of(G) -> torch.dtype:
    """The arithmetic its half-precision layers run in (StyleGAN: run_dtype), for reports."""
    return getattr(getattr(G, "synthesis", None), "run_dtype", None) or dtype_of(G)
