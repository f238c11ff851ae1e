"""The Generator protocol every network kind implements (built-in, StyleGAN pickle, TorchScript,
plugin), and the error type for models."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import torch

from ..config import UserError


class ModelError(UserError):
    """A model file that cannot be loaded, or a network that failed to run."""


@runtime_checkable
class Generator(Protocol):
    """A latent -> image network.

    z_dim, c_dim, w_dim, num_ws, resolution, img_channels: ints
    w_avg: (w_dim,) tensor, the centre of W used by truncation
    mapping(z (N, z_dim), c (N, c_dim) | None, truncation_psi, truncation_cutoff) -> ws (N, num_ws, w_dim)
    synthesis(ws (N, num_ws, w_dim), noise_mode="const", transform=None (3,3)) -> (N, C, H, W)
        float, nominal range [-1, 1]
    __call__(z, c=None, truncation_psi=1.0, noise_mode="const") -> mapping then synthesis
    """

    z_dim: int
    c_dim: int
    w_dim: int
    num_ws: int
    resolution: int
    img_channels: int
    w_avg: torch.Tensor

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor: ...

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const",
                  transform: torch.Tensor | None = None) -> torch.Tensor: ...

    def __call__(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                 noise_mode: str = "const") -> torch.Tensor: ...


@dataclass(frozen=True)
class LoadHints:
    """What a patch says beyond the spec, for the kinds that use it (the built-in network has
    no native size or weights: it takes resolution, seed and the output's shape from here).
    accelerate: "eager", "graphs" (CUDA graphs of the batch-1 synthesis) or "compile", for the
    kinds that can (StyleGAN)."""

    resolution: int | None = None
    seed: int | None = None
    output_size: tuple[int, int] | None = None  # (width, height) of the show's output
    accelerate: str = "eager"


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output (N, C, H, W), nominally in [-1, 1] -> (N, H, W, C) uint8 on the same
    device: the one place that knows the Generator's value range (-1 -> 0, 1 -> 255)."""
    return (images.detach().float() * 127.5 + 128.0).clamp_(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous()


def truncate(ws: torch.Tensor, w_avg: torch.Tensor, psi: float, cutoff: int | None) -> torch.Tensor:
    """ws (N, num_ws, w_dim) pulled toward w_avg by psi on layers [0, cutoff)."""
    if psi == 1.0:
        return ws
    if cutoff is None:
        return w_avg.lerp(ws, psi)
    out = ws.clone()
    out[:, :cutoff] = w_avg.lerp(ws[:, :cutoff], psi)
    return out


def user_matrices(transform, n: int) -> torch.Tensor:
    """The `transform` argument of synthesis as (1, 3, 3) (one for the batch) or (n, 3, 3)."""
    m = torch.as_tensor(transform)
    if m.shape[-2:] != (3, 3) or m.ndim not in (2, 3) or (m.ndim == 3 and m.shape[0] not in (1, n)):
        raise ValueError(f"transform must be (3, 3) or ({n}, 3, 3), got {tuple(m.shape)}")
    return m.reshape(-1, 3, 3)
