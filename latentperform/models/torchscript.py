"""TorchScript generators: a `.pt` / `.ts` archive written by `torch.jit.save`.

The forward signature an exported generator must have (checked at load on a dummy input):

    forward(z: Tensor[N, z_dim], truncation_psi: float) -> Tensor[N, C, H, W]

and, optionally, these methods (exported with @torch.jit.export) and attributes:

    mapping(z: Tensor[N, z_dim], truncation_psi: float) -> Tensor[N, num_ws, w_dim]
    synthesis(ws: Tensor[N, num_ws, w_dim]) -> Tensor[N, C, H, W]
    z_dim: int, w_dim: int, num_ws: int, resolution: int, img_channels: int   (attributes)
    w_avg: Tensor[w_dim]                                                      (attribute or buffer)

Without `mapping`/`synthesis`, the generator's w is its z (num_ws = 1, w_dim = z_dim, w_avg =
zeros) and truncation pulls z toward 0.  Output is float, nominal [-1, 1], as for every kind.

Safety: `torch.jit.load` reads a zip of TorchScript code, constants and tensors.  TorchScript is a
statically typed subset compiled by torch's own interpreter; it cannot import Python modules or
call arbitrary Python functions, and the loader does not unpickle Python objects with the
ordinary `pickle` module (its data.pkl is read by torch's restricted TorchScript unpickler, which
only rebuilds tensors and TorchScript classes).  So loading a `.pt` runs no Python from the file.
Its forward is still a program: it can loop, allocate memory and call any operator registered
with torch (and any custom-operator library already loaded in this process), so treat a model
you did not make with the care you would give any program.  A `torch.save` file (a pickle in a
zip) is refused here rather than unpickled.

`dtype` is not applied: a TorchScript generator runs in the precision it was exported in (export
a half-precision module for fp16); its output is returned as float32.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from .base import ModelError, truncate


class TorchScriptGenerator:
    """Wraps a loaded ScriptModule in the `Generator` protocol."""

    batched_transform = True  # synthesis takes one transform per picture, (N, 3, 3)

    kind = "torchscript"

    def __init__(self, module: torch.jit.ScriptModule, source: str = "model",
                 device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> None:
        self.module = module.eval()
        self.source = source
        self.device = torch.device(device)
        self.dtype = dtype
        self.z_dim = self._int("z_dim", None)
        if self.z_dim is None:
            raise ModelError(f"{source}: a TorchScript generator must have an int attribute z_dim")
        self.c_dim = 0
        self._has_split = hasattr(module, "mapping") and hasattr(module, "synthesis")
        self.w_dim = self._int("w_dim", self.z_dim if not self._has_split else None)
        self.num_ws = self._int("num_ws", 1 if not self._has_split else None)
        if self.w_dim is None or self.num_ws is None:
            raise ModelError(f"{source}: a TorchScript generator with mapping/synthesis needs int "
                             "attributes w_dim and num_ws")
        w_avg = getattr(module, "w_avg", None)
        self.w_avg = (w_avg.detach().float().to(self.device) if isinstance(w_avg, torch.Tensor)
                      else torch.zeros(self.w_dim, device=self.device))
        if tuple(self.w_avg.shape) != (self.w_dim,):
            raise ModelError(f"{source}: w_avg has shape {tuple(self.w_avg.shape)}, expected ({self.w_dim},)")
        # check the declared interface on a dummy input, so a bad export fails at load, not live
        with torch.no_grad():
            img = self(torch.zeros(1, self.z_dim, device=self.device))
        if img.ndim != 4 or img.shape[0] != 1:
            raise ModelError(f"{source}: forward must return (N, C, H, W), got {tuple(img.shape)}")
        self.img_channels = self._int("img_channels", int(img.shape[1]))
        self.resolution = self._int("resolution", int(img.shape[-1]))

    def _int(self, name: str, default):
        v = getattr(self.module, name, default)
        return int(v) if v is not None else None

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        z = z.to(self.device, torch.float32)
        if self._has_split:
            ws = self.module.mapping(z, 1.0)
        else:
            ws = z.unsqueeze(1)
        if tuple(ws.shape[1:]) != (self.num_ws, self.w_dim):
            raise ModelError(f"{self.source}: mapping returned {tuple(ws.shape)}, expected "
                             f"(N, {self.num_ws}, {self.w_dim})")
        return truncate(ws.float(), self.w_avg, truncation_psi, truncation_cutoff)

    def synthesis(self, ws, noise_mode="const", transform=None):
        ws = ws.to(self.device, torch.float32)
        if self._has_split:
            img = self.module.synthesis(ws)
        else:
            img = self.module(ws[:, 0], 1.0)
        if transform is not None:
            from .stylegan2 import warp_image
            img = warp_image(img.float(), transform)
        return img.float()

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)


def load(spec: str, placement, hints) -> TorchScriptGenerator:
    """The "torchscript" generator kind (registered in latentperform/kinds.py), loaded straight
    onto placement.device; it runs in the precision it was exported in."""
    if placement.reference:
        raise ModelError(f"{Path(spec).name}: precision \"reference\" is for StyleGAN pickles")
    return load_torchscript(spec, placement.device, placement.dtype)


def load_torchscript(path: str | Path, device: str | torch.device = "cpu",
                     dtype: torch.dtype = torch.float32) -> TorchScriptGenerator:
    path = Path(path)
    if not path.is_file():
        raise ModelError(f"{path}: no such file")
    if not zipfile.is_zipfile(path):
        raise ModelError(f"{path.name}: not a TorchScript archive (expected a zip written by torch.jit.save)")
    try:
        module = torch.jit.load(str(path), map_location=device)
    except Exception as e:  # a torch.save file, a damaged zip, a newer format...
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelError(f"{path.name}: not a loadable TorchScript generator ({first[:160]})") from None
    try:
        return TorchScriptGenerator(module, path.name, device, dtype)
    except ModelError:
        raise
    except Exception as e:
        first = (str(e).strip().splitlines() or [type(e).__name__])[0]
        raise ModelError(f"{path.name}: TorchScript generator failed its check run ({first[:160]})") from None
