"""How good a trained network is, in figures that need no downloaded weights.

- reconstruction: mean absolute error (in [0, 2] pixel units) of held-out pictures through the
  encoder and decoder, beside the error of the mean picture (what a network that learned nothing
  would draw): the ratio is the figure, below 1 is learning;
- precision / recall (Kynkäänniemi et al. 2019, improved precision and recall) of random samples
  against held-out pictures, in a descriptor space of small blurred thumbnails: precision is the
  share of samples inside the pictures' k-nearest-neighbour balls (plausible), recall the share of
  pictures inside the samples' balls (varied).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def descriptor(x: torch.Tensor, size: int = 8) -> torch.Tensor:
    return F.adaptive_avg_pool2d(x.float(), size).flatten(1)


def _inside(ref: torch.Tensor, query: torch.Tensor, k: int) -> float:
    d_ref = torch.cdist(ref, ref)
    radius = d_ref.kthvalue(min(k + 1, len(ref)), dim=1).values  # k-th neighbour, itself excluded
    d = torch.cdist(query, ref)
    return float((d <= radius[None, :]).any(dim=1).float().mean())


def precision_recall(real: torch.Tensor, fake: torch.Tensor, k: int = 3) -> tuple[float, float]:
    r, f = descriptor(real), descriptor(fake)
    return _inside(r, f, k), _inside(f, r, k)


@torch.no_grad()
def measure(G, held_out: torch.Tensor, train_mean: torch.Tensor, samples: int = 256, seed: int = 0) -> dict:
    recon = G.synthesis(G.mapping(G.encode(held_out)))
    err = float((recon - held_out).abs().mean())
    base = float((train_mean[None] - held_out).abs().mean())
    z = torch.randn(samples, G.z_dim, generator=torch.Generator().manual_seed(seed))
    fake = torch.cat([G(part) for part in z.split(64)])
    precision, recall = precision_recall(held_out, fake)
    return {"recon_l1": err, "mean_picture_l1": base, "recon_ratio": err / max(base, 1e-8),
            "precision": precision, "recall": recall}
