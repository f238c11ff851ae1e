"""A tiny generator whose latent space has known clusters: the atlas tests' ground truth.

z -> cluster c = floor(CLUSTERS * Phi(z[0])) (equal-probability bins of the first coordinate);
w = SEPARATION * centre_c + SPREAD * z.  The picture is a colour field whose hue and stripes
follow w, so clusters differ in W and look different.
"""

from __future__ import annotations

import math

import numpy as np
import torch

CLUSTERS = 5
SEPARATION = 4.0
SPREAD = 0.4


class ClusteredGenerator:
    z_dim = 8
    w_dim = 8
    num_ws = 2
    c_dim = 0
    img_channels = 3
    kind = "clustered-test"

    def __init__(self, resolution: int = 32, seed: int = 0) -> None:
        self.resolution = resolution
        g = torch.Generator().manual_seed(seed)
        c = torch.randn(CLUSTERS, self.w_dim, generator=g)
        self.centres = c / c.norm(dim=1, keepdim=True)
        self.colour = torch.randn(3, self.w_dim, generator=g) * 0.6
        self.freq = torch.randn(2, self.w_dim, generator=g) * 0.8
        self.w_avg = torch.zeros(self.w_dim)

    def cluster_of(self, z: torch.Tensor) -> torch.Tensor:
        phi = 0.5 * (1 + torch.erf(z[:, 0] / math.sqrt(2)))
        return (phi * CLUSTERS).long().clamp(0, CLUSTERS - 1)

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        z = torch.as_tensor(z, dtype=torch.float32)
        w = SEPARATION * self.centres[self.cluster_of(z)] + SPREAD * z
        w = self.w_avg + truncation_psi * (w - self.w_avg)
        return w[:, None, :].expand(-1, self.num_ws, -1).contiguous()

    def synthesis(self, ws, noise_mode="const", transform=None):
        w = ws[:, 0].float()
        n, r = len(w), self.resolution
        ys, xs = torch.meshgrid(torch.linspace(-1, 1, r), torch.linspace(-1, 1, r), indexing="ij")
        f = w @ self.freq.T  # (N, 2)
        phase = f[:, 0, None, None] * xs * 3 + f[:, 1, None, None] * ys * 3
        base = torch.tanh(w @ self.colour.T)  # (N, 3)
        return (0.6 * base[:, :, None, None] + 0.4 * torch.sin(phase)[:, None]).clamp(-1, 1)

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi))
