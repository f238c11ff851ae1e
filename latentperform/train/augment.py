"""Augmentation for small sets, adaptive as in StyleGAN2-ADA's idea (not its code): every picture
shown to the network is flipped, shifted, turned a quarter, recoloured or cut with probability p
each, and p follows how much the network overfits: when the held-out loss runs ahead of the
training loss by more than `target` (relative), p rises, else it falls.  The decoder learns the
augmented pictures too, so only augmentations that keep a picture a plausible picture are used.
"""

from __future__ import annotations

import torch


class Augment:
    def __init__(self, p: float = 0.0, target: float = 0.15, step: float = 0.05, p_max: float = 0.8) -> None:
        self.p, self.target, self.step, self.p_max = float(p), target, step, p_max

    def adjust(self, train_loss: float, held_loss: float) -> float:
        gap = (held_loss - train_loss) / max(train_loss, 1e-8)
        self.p = min(max(self.p + (self.step if gap > self.target else -self.step), 0.0), self.p_max)
        return self.p

    def __call__(self, x: torch.Tensor, g: torch.Generator) -> torch.Tensor:
        if self.p <= 0.0:
            return x
        n = x.shape[0]

        def chosen() -> torch.Tensor:
            return torch.rand(n, generator=g) < self.p

        x = x.clone()
        m = chosen()
        x[m] = x[m].flip(-1)
        m = chosen()
        if m.any():
            k = int(torch.randint(1, 4, (1,), generator=g))
            x[m] = torch.rot90(x[m], k, dims=(-2, -1))
        m = chosen()
        if m.any():  # shift by up to 1/8 of the size, edges reflected
            r = x.shape[-1]
            dx, dy = (int(v) for v in torch.randint(-r // 8, r // 8 + 1, (2,), generator=g))
            pad = torch.nn.functional.pad(x[m], (r // 8,) * 4, mode="reflect")
            x[m] = pad[..., r // 8 + dy: r // 8 + dy + r, r // 8 + dx: r // 8 + dx + r]
        m = chosen()
        if m.any():  # brightness, contrast and saturation
            k = int(m.sum())
            b = (torch.rand(k, 1, 1, 1, generator=g) - 0.5) * 0.4
            c = torch.exp((torch.rand(k, 1, 1, 1, generator=g) - 0.5) * 0.6)
            s = torch.exp((torch.rand(k, 1, 1, 1, generator=g) - 0.5) * 0.8)
            y = x[m]
            mean = y.mean((1, 2, 3), keepdim=True)
            grey = y.mean(1, keepdim=True)
            y = grey + (y - grey) * s
            x[m] = ((y - mean) * c + mean + b).clamp(-1.0, 1.0)
        return x
