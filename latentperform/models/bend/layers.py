"""Which layers of a network can be bent: every submodule of its synthesis whose output is a
feature map (N, C, H, W), found by one dry run with a forward hook on each submodule.

Names are the modules' dotted paths inside the synthesis network (StyleGAN2 "b32.conv1",
StyleGAN3 "L4_52_512", the built-in "layer2"), listed in the order the network runs them.
TorchScript networks hide their modules from hooks: they expose no layers (say so, don't guess).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..base import ModelError


@dataclass(frozen=True)
class LayerInfo:
    name: str
    channels: int
    height: int
    width: int


def synthesis_module(G) -> nn.Module:
    """The module whose submodules are the layers (StyleGAN: G.synthesis; built-in and plugins: G)."""
    syn = getattr(G, "synthesis", None)
    root = syn if isinstance(syn, nn.Module) else G
    if not isinstance(root, nn.Module) or isinstance(root, torch.jit.ScriptModule):
        raise ModelError(f"{type(G).__name__} does not expose its layers: it cannot be bent")
    return root


def probe_ws(G, n: int = 1, seed: int = 0) -> torch.Tensor:
    """A few ws drawn from the network's own mapping, for dry runs."""
    z = torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))
    device = G.w_avg.device
    c = torch.zeros(n, G.c_dim, device=device) if getattr(G, "c_dim", 0) else None
    if c is not None:
        c[:, 0] = 1.0
    with torch.no_grad():
        return G.mapping(z.to(device), c, truncation_psi=0.7)


def run_synthesis(G, ws: torch.Tensor, size: int | None = None) -> torch.Tensor:
    """One synthesis call; the built-in network draws a small picture (size) for dry runs."""
    with torch.no_grad():
        if size is not None and _takes_size(G):
            return G.synthesis(ws, noise_mode="const", size=(size, size))
        return G.synthesis(ws, noise_mode="const")


def _takes_size(G) -> bool:
    import inspect
    try:
        return "size" in inspect.signature(G.synthesis).parameters
    except (TypeError, ValueError):
        return False


def capture(G, names: list[str] | None, ws: torch.Tensor, size: int | None = 64) -> dict[str, torch.Tensor]:
    """Run the synthesis once and keep the feature maps of `names` (None: of every submodule)."""
    root = synthesis_module(G)
    seen: dict[str, torch.Tensor] = {}
    handles = []
    for name, module in root.named_modules():
        if not name or (names is not None and name not in names):
            continue

        def hook(_m, _inp, out, name=name):
            if isinstance(out, torch.Tensor) and out.ndim == 4 and name not in seen:
                seen[name] = out.detach()
        handles.append(module.register_forward_hook(hook))
    try:
        run_synthesis(G, ws, size)
    finally:
        for h in handles:
            h.remove()
    return seen


def bend_layers(G, size: int | None = 64) -> list[LayerInfo]:
    """The bendable layers, in the order the network runs them."""
    maps = capture(G, None, probe_ws(G), size)
    return [LayerInfo(name, int(x.shape[1]), int(x.shape[2]), int(x.shape[3])) for name, x in maps.items()]


def find_layer(G, name: str) -> nn.Module:
    root = synthesis_module(G)
    modules = dict(root.named_modules())
    if name and name in modules:
        return modules[name]
    import difflib
    names = [n for n in modules if n]
    close = difflib.get_close_matches(name, names, n=1)
    hint = f'; did you mean "{close[0]}"?' if close else ""
    raise ModelError(f'bend: this network has no layer "{name}"{hint} '
                     "(`latentperform inspect MODEL --layers` lists them)")
