"""The training loop.  Every step's randomness (which pictures, which augmentations, the VAE's
noise) is drawn from a generator seeded by (seed, step), so a run that was interrupted and
resumed from its checkpoint makes exactly the network an uninterrupted run makes."""

from __future__ import annotations

import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from ..config import UserError
from ..models.trained import Decoder, Encoder, TrainedConfig, TrainedGenerator, save_trained
from .augment import Augment
from .data import load_folder, split
from .quality import measure

KL_WARMUP_STEPS = 300


@dataclass
class TrainSettings:
    folder: str
    out: str
    resolution: int = 64
    steps: int | None = None          # stop after this many steps ...
    minutes: float | None = None      # ... or this much time (default: 2000 steps)
    batch: int = 32
    lr: float = 2e-3
    beta: float = 0.02                # weight of the KL term (higher: smoother latent, softer pictures)
    seed: int = 0
    z_dim: int = 64
    w_dim: int = 128
    base_channels: int = 128
    eval_every: int = 50
    samples_every: int = 250          # a sample grid PNG every so many steps (0: none)
    checkpoint_every_s: float = 30.0
    fresh: bool = False               # ignore an existing checkpoint
    quiet: bool = False
    extra: dict = field(default_factory=dict)

    @property
    def checkpoint(self) -> Path:
        return Path(self.out).with_name(Path(self.out).name + ".ckpt")

    @property
    def samples_dir(self) -> Path:
        out = Path(self.out)
        return out.with_name(out.stem + "-samples")


def _vae_loss(dec, enc, x, g, beta):
    mu, logvar = enc(x)
    eps = torch.randn(mu.shape, generator=g)
    z = mu + eps * torch.exp(0.5 * logvar)
    recon = dec.synthesis(dec.mapping(z))
    rec = (recon - x).abs().mean() + 0.5 * (F.avg_pool2d(recon, 4) - F.avg_pool2d(x, 4)).abs().mean()
    kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).mean()
    return rec + beta * kl, float(rec.detach())


class _Progress:
    def __init__(self, quiet: bool) -> None:
        self.quiet = quiet
        self.tty = sys.stderr.isatty()
        self._last = 0.0

    def show(self, text: str, final: bool = False) -> None:
        if self.quiet:
            return
        now = time.monotonic()
        if not final and now - self._last < (0.5 if self.tty else 10.0):
            return
        self._last = now
        end = "\n" if final or not self.tty else ""
        print(("\r" if self.tty else "") + text.ljust(78), end=end, file=sys.stderr, flush=True)


def train(s: TrainSettings) -> dict:
    """Train (or resume) and write s.out; returns the quality figures (see quality.py)."""
    out = Path(s.out)
    if out.suffix.lower() != ".pt":
        raise UserError(f"{s.out}: the network is written as a .pt file")
    if not out.parent.exists():
        raise UserError(f"{out.parent}: no such folder")
    pictures, skipped = load_folder(s.folder, s.resolution)
    for line in skipped[:5]:
        print(f"skipped {line}", file=sys.stderr)
    train_x, held_x = split(pictures, seed=s.seed)
    cfg = TrainedConfig(resolution=s.resolution, z_dim=s.z_dim, w_dim=s.w_dim, base_channels=s.base_channels)
    torch.manual_seed(s.seed)
    dec, enc = Decoder(cfg), Encoder(cfg)
    params = list(dec.parameters()) + list(enc.parameters())
    opt = torch.optim.Adam(params, lr=s.lr, betas=(0.5, 0.99))
    aug = Augment()
    step, elapsed = 0, 0.0
    total = s.steps if s.steps is not None else (None if s.minutes is not None else 2000)
    ck = s.checkpoint
    if ck.exists() and not s.fresh:
        step, elapsed = _resume(ck, cfg, len(pictures), dec, enc, opt, aug)
        print(f"resuming {ck.name} at step {step}", file=sys.stderr)

    stop = {"now": False}

    def interrupted(_sig, _frame):
        stop["now"] = True

    old_int = signal.signal(signal.SIGINT, interrupted) if _main_thread() else None
    old_term = signal.signal(signal.SIGTERM, interrupted) if _main_thread() else None
    prog = _Progress(s.quiet)
    t0 = time.monotonic() - elapsed
    last_ck = time.monotonic()
    train_loss = float("nan")
    try:
        while not stop["now"]:
            if total is not None and step >= total:
                break
            if s.minutes is not None and time.monotonic() - t0 >= s.minutes * 60.0:
                break
            g = torch.Generator().manual_seed(s.seed * 1_000_003 + step)
            idx = torch.randint(len(train_x), (min(s.batch, len(train_x)),), generator=g)
            x = aug(train_x[idx], g)
            beta = s.beta * min(1.0, (step + 1) / KL_WARMUP_STEPS)
            loss, train_loss = _vae_loss(dec, enc, x, g, beta)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 10.0)
            opt.step()
            step += 1
            if step % s.eval_every == 0:
                _evaluate(dec, enc, train_x, held_x, aug, s.seed, step)
            if s.samples_every and step % s.samples_every == 0:
                _sample_grid(dec, enc, held_x, s, step)
            if time.monotonic() - last_ck >= s.checkpoint_every_s:
                _save_checkpoint(ck, cfg, len(pictures), dec, enc, opt, aug, step, time.monotonic() - t0)
                last_ck = time.monotonic()
            rate = step / max(time.monotonic() - t0, 1e-9)
            eta = ""
            if total is not None:
                eta = f"  ETA {_clock((total - step) / max(rate, 1e-9))}"
            elif s.minutes is not None:
                eta = f"  ETA {_clock(s.minutes * 60.0 - (time.monotonic() - t0))}"
            prog.show(f"step {step}" + (f"/{total}" if total else "") + f"  loss {train_loss:.4f}"
                      f"  aug p {aug.p:.2f}  {rate * s.batch:.0f} img/s{eta}")
    finally:
        if old_int is not None:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
    _save_checkpoint(ck, cfg, len(pictures), dec, enc, opt, aug, step, time.monotonic() - t0)
    if stop["now"]:
        prog.show(f"interrupted at step {step}: saved {ck.name}; run the same command to resume", final=True)
        return {"interrupted": True, "steps": step}
    seconds = time.monotonic() - t0
    G = _finish(dec, enc, cfg)
    figures = measure(G, held_x, train_x.mean(0))
    figures.update(steps=step, seconds=seconds, images_per_s=step * s.batch / max(seconds, 1e-9),
                   pictures=len(pictures), aug_p=aug.p)
    if s.samples_every:
        _sample_grid(dec, enc, held_x, s, step)
    save_trained(out, dec, enc, info={k: float(v) for k, v in figures.items()})
    prog.show(f"wrote {out.name}: {step} steps in {_clock(seconds)}, held-out error {figures['recon_ratio']:.2f} "
              f"of the mean picture's, precision {figures['precision']:.2f} recall {figures['recall']:.2f}",
              final=True)
    return figures


def _main_thread() -> bool:
    import threading
    return threading.current_thread() is threading.main_thread()


def _clock(seconds: float) -> str:
    seconds = max(0, int(seconds))
    return f"{seconds // 60}:{seconds % 60:02d}"


@torch.no_grad()
def _evaluate(dec, enc, train_x, held_x, aug, seed, step) -> None:
    """Held-out vs training loss (no augmentation, the VAE's mean): drives the augmentation p;
    and w_avg, the centre of W that truncation pulls toward."""
    g = torch.Generator().manual_seed(seed + 7 + step)
    sub = train_x[torch.randint(len(train_x), (len(held_x),), generator=g)]
    def err(x):
        return float((dec.synthesis(dec.mapping(enc(x)[0])) - x).abs().mean())
    aug.adjust(err(sub), err(held_x))
    z = torch.randn(512, dec.z_dim, generator=g)
    dec.w_avg.copy_(dec.mapper(z).mean(0))


def _finish(dec, enc, cfg) -> TrainedGenerator:
    G = TrainedGenerator(cfg, Encoder(cfg))
    G.load_state_dict(dec.state_dict(), strict=False)
    G.encoder.load_state_dict(enc.state_dict())
    _evaluate_w_avg(G)
    return G.eval()


@torch.no_grad()
def _evaluate_w_avg(G) -> None:
    z = torch.randn(4096, G.z_dim, generator=torch.Generator().manual_seed(0))
    G.w_avg.copy_(G.mapper(z).mean(0))


@torch.no_grad()
def _sample_grid(dec, enc, held_x, s: TrainSettings, step: int) -> None:
    """Row 1-2: random samples (the same latents every time, so the grids show progress);
    row 3: held-out pictures; row 4: their reconstructions."""
    from PIL import Image

    z = torch.randn(16, dec.z_dim, generator=torch.Generator().manual_seed(99))
    samples = dec(z)
    real = held_x[:8]
    recon = dec.synthesis(dec.mapping(enc(real)[0]))
    rows = [samples[:8], samples[8:], real, recon]
    r = s.resolution
    grid = torch.ones(3, 4 * (r + 2), 8 * (r + 2))
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            grid[:, i * (r + 2) + 1: i * (r + 2) + 1 + r, j * (r + 2) + 1: j * (r + 2) + 1 + r] = img
    u8 = ((grid.clamp(-1, 1) + 1) * 127.5).round().byte().permute(1, 2, 0).numpy()
    s.samples_dir.mkdir(parents=True, exist_ok=True)
    path = s.samples_dir / f"step-{step:06d}.png"
    Image.fromarray(np.ascontiguousarray(u8)).save(path)


def _save_checkpoint(path: Path, cfg, n_pictures, dec, enc, opt, aug, step, elapsed) -> None:
    blob = {"config": asdict(cfg), "pictures": int(n_pictures), "step": int(step), "elapsed": float(elapsed),
            "aug_p": float(aug.p), "decoder": dec.state_dict(), "encoder": enc.state_dict(),
            "optimizer": opt.state_dict()}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    os.replace(tmp, path)


def _resume(path: Path, cfg, n_pictures, dec, enc, opt, aug) -> tuple[int, float]:
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
        if blob["config"] != asdict(cfg) or blob["pictures"] != n_pictures:
            raise UserError(f"{path.name} was made with other settings or another set of pictures; "
                            "use --fresh to start over (or delete it)")
        dec.load_state_dict(blob["decoder"])
        enc.load_state_dict(blob["encoder"])
        opt.load_state_dict(blob["optimizer"])
        aug.p = float(blob["aug_p"])
        return int(blob["step"]), float(blob["elapsed"])
    except UserError:
        raise
    except Exception as e:
        raise UserError(f"{path.name}: damaged checkpoint ({str(e).splitlines()[0][:120]}); "
                        "use --fresh to start over") from None
