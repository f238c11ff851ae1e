"""Where does a picture lie on the map?  And places around a place.

    found = find_image(atlas, G, "photo.jpg")    # Found(w, z, position, nearest, errors ...)
    ws = variations(atlas, found.w, count=4)      # (4, w_dim) small steps around it

find: (1) candidates: the atlas samples nearest the picture by descriptor, and by pixels of the
thumbnails; the best by both together starts (2) an optimisation against the picture (an evolution
strategy in z on the pixel error at OPT_SIZE plus a small descriptor term: see `search`), whose
W is the best guess and whose z a patch keyframe can hold; (3) a place on the map: the
inverse-distance average of the positions of the samples nearest that W in W.
Every step is reported as a figure; nothing is hidden if the picture is far from the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..config import UserError
from .atlasfile import Atlas
from .describe import describe_tensor, standardise
from .sample import render_w

OPT_SIZE = 64
DESCRIPTOR_TERM = 0.05  # descriptor² (std units) vs pixel MSE: about equal weight
CANDIDATES = 8


@dataclass
class Found:
    w: np.ndarray               # (w_dim,) the best-guess W
    z: np.ndarray               # (z_dim,) a z whose W is close to it (for a keyframe)
    position: tuple[float, float]
    nearest: int                # the atlas sample it started from
    region: str
    start_error: float          # picture MSE (in [0, 1] units) of the nearest sample
    error: float                # picture MSE after optimising W
    descriptor_distance: float  # of the picture to the nearest sample (standardised units)


def load_picture(path: str | Path, size: int) -> torch.Tensor:
    """(1, 3, size, size) float RGB in [0, 1]: the centre square of the picture, resized."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    try:
        with Image.open(path) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(w, h)
            im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
            im = im.resize((size, size), Image.BOX if s > size else Image.BILINEAR)
            arr = np.asarray(im, dtype=np.float32) / 255
    except FileNotFoundError:
        raise UserError(f"{path}: no such picture") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise UserError(f"{path}: cannot read the picture ({e})") from None
    return torch.from_numpy(arr).permute(2, 0, 1)[None].contiguous()


def _position_of(atlas: Atlas, w: np.ndarray, k: int = 8) -> tuple[float, float]:
    d = np.sqrt(((atlas.w - w[None]) ** 2).sum(1))
    near = np.argpartition(d, min(k, len(d) - 1))[:k]
    wts = 1.0 / (d[near] + 1e-6) ** 2
    p = (atlas.positions[near] * wts[:, None]).sum(0) / wts.sum()
    return float(p[0]), float(p[1])


def _loss(G, ws: np.ndarray, tgt: torch.Tensor, tgt_desc: torch.Tensor, scale: torch.Tensor) -> np.ndarray:
    """Per candidate: pixel MSE (in [0, 1] units) + a small descriptor term."""
    img = ((render_w(G, ws, tgt.shape[-1]) + 1) / 2).clamp(0, 1)
    mse = (img - tgt).square().mean((1, 2, 3))
    desc = ((describe_tensor(img) - tgt_desc) / scale).square().mean(1)
    return (mse + DESCRIPTOR_TERM * desc).double().cpu().numpy()


def _mapping(G, z: np.ndarray) -> np.ndarray:
    dev, dt = G.w_avg.device, G.w_avg.dtype
    zt = torch.as_tensor(z, dtype=dt, device=dev)
    c = None
    if G.c_dim:
        c = torch.zeros(len(zt), G.c_dim, device=dev)
        c[:, 0] = 1
    return G.mapping(zt, c, truncation_psi=1.0)[:, 0].double().cpu().numpy()


@torch.no_grad()
def search(G, target: torch.Tensor, z0: np.ndarray, psi: float, std: np.ndarray, sigma: float = 0.3,
           iterations: int = 24, population: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """A latent that renders close to target, by an evolution strategy in z from z0 (so W stays
    on the network's own distribution, and the answer is a z a keyframe can hold): each round
    renders a batch of candidates around the current mean (antithetic pairs), moves the mean to
    the weighted best quarter, and grows the step after an improvement / shrinks it after none
    (the 1/5th rule).  No gradients: it works with every generator kind (the built-in synthesis
    runs in place for speed; a TorchScript export may have no autograd).
    -> (z, W, pixel MSE at the atlas size)."""
    dev, dt = G.w_avg.device, G.w_avg.dtype
    size = target.shape[-1]
    opt_size = min(OPT_SIZE, size)
    tgt = torch.nn.functional.interpolate(target, size=(opt_size, opt_size), mode="area").to(dev, dt)
    tgt_desc = describe_tensor(tgt)
    scale = torch.as_tensor(std, dtype=dt, device=dev)
    w_avg = G.w_avg.double().cpu().numpy()

    def w_of(z):
        return w_avg + psi * (_mapping(G, z) - w_avg)

    rng = np.random.default_rng([seed, 0xF1D])
    mean = np.asarray(z0, np.float64)
    best_z = mean.copy()
    best = float(_loss(G, w_of(mean[None]), tgt, tgt_desc, scale)[0])
    half = max(population // 2, 1)
    keep = max(population // 4, 1)
    ranks = np.log(keep + 0.5) - np.log(np.arange(1, keep + 1))
    ranks /= ranks.sum()
    for _ in range(iterations):
        eps = rng.standard_normal((half, len(mean)))
        cand = mean[None] + sigma * np.concatenate([eps, -eps])
        losses = _loss(G, w_of(cand), tgt, tgt_desc, scale)
        order = np.argsort(losses)
        if losses[order[0]] < best:
            best, best_z = float(losses[order[0]]), cand[order[0]].copy()
            sigma *= 1.2
        else:
            sigma *= 0.8
        mean = 0.5 * best_z + 0.5 * (ranks[:, None] * cand[order[:keep]]).sum(0)
    best_w = w_of(best_z[None])
    img = ((render_w(G, best_w, size) + 1) / 2).clamp(0, 1)
    err = float((img - target.to(dev, dt)).square().mean())
    return best_z, best_w[0].astype(np.float32), err


def find_image(atlas: Atlas, G, picture: str | Path | torch.Tensor, iterations: int = 24, population: int = 16,
               seed: int = 0) -> Found:
    size = int(atlas.settings["size"])
    target = picture if isinstance(picture, torch.Tensor) else load_picture(picture, size)
    if target.shape[-1] != size:
        target = torch.nn.functional.interpolate(target, size=(size, size), mode="area")
    # 1. candidates
    _, mean, std = standardise(atlas.descriptors)
    with torch.no_grad():
        qd = standardise(describe_tensor(target).numpy(), mean, std)[0][0]
    atlas_d = standardise(atlas.descriptors, mean, std)[0]
    d_desc = np.sqrt(((atlas_d - qd) ** 2).mean(1))
    t_np = target[0].permute(1, 2, 0).numpy()
    pix = np.concatenate([((atlas.thumbnails[s:s + 512].astype(np.float32) / 255 - t_np) ** 2).mean((1, 2, 3))
                          for s in range(0, len(atlas), 512)]).astype(np.float64)
    cand = np.union1d(np.argsort(d_desc)[:CANDIDATES], np.argsort(pix)[:CANDIDATES])
    # the best candidate by both measures, each relative to its typical value over the atlas
    score = pix[cand] / np.median(pix) + d_desc[cand] / np.median(d_desc)
    start = int(cand[np.argmin(score)])
    # 2. optimise against the picture (in z, see search); 3. the place on the map
    z, w_np, err = search(G, target, atlas.z_of(start), atlas.psi, std, iterations=iterations,
                          population=population, seed=seed)
    pos = _position_of(atlas, w_np)
    region = atlas.region_of(start).name if atlas.regions else ""
    return Found(w=w_np, z=z, position=pos, nearest=start, region=region, start_error=float(pix[start]),
                 error=err, descriptor_distance=float(d_desc[start]))


def w_spacing(atlas: Atlas, sample: int = 512) -> float:
    """The median W distance between an atlas sample and its nearest other sample."""
    rng = np.random.default_rng(0)
    idx = rng.choice(len(atlas), min(sample, len(atlas)), replace=False)
    d = np.sqrt(((atlas.w[idx, None] - atlas.w[None]) ** 2).sum(-1))
    d[np.arange(len(idx)), idx] = np.inf
    return float(np.median(d.min(1)))


def variations(atlas: Atlas, w: np.ndarray, count: int, step: float = 0.5, direction: np.ndarray | None = None,
               seed: int = 0) -> np.ndarray:
    """(count, w_dim): places around w, each `step` atlas spacings away (a spacing: the typical
    W distance between neighbouring samples).  With a direction (w_dim,): evenly spaced along
    it, both ways; without: in random directions (drawn from seed)."""
    if count < 1:
        raise UserError(f"variations must be at least 1, got {count}")
    scale = step * w_spacing(atlas)
    w = np.asarray(w, np.float64)
    if direction is not None:
        d = np.asarray(direction, np.float64)
        d = d / (np.linalg.norm(d) + 1e-12)
        amounts = np.linspace(-1, 1, count) if count > 1 else np.ones(1)
        out = w[None] + amounts[:, None] * scale * d[None]
    else:
        u = np.random.default_rng([seed, 0xA71]).standard_normal((count, len(w)))
        u /= np.linalg.norm(u, axis=1, keepdims=True)
        out = w[None] + scale * u
    return out.astype(np.float32)


def variation_latents(G, atlas: Atlas, found: Found, count: int, step: float = 0.5,
                      direction: int | None = None) -> list[tuple[np.ndarray, float]]:
    """K places about `step` atlas spacings around a found one, each as a z for a keyframe, with
    its relative error.  Along the atlas's principal direction `direction` (evenly both ways):  the direction is pulled back to z through the
    mapping's Jacobian (least squares over its well-conditioned part).  Without: random directions
    in z (where the network can go: its W varies along only a few tens of the w_dim axes, so a
    random W direction would mostly leave its space).  Each z step is scaled (to first order) so
    W moves `step` spacings; the error is how far the W step's length is off, relative to it,
    and, along a direction, the sine of the angle between the W step and the direction.  Needs only the mapping
    network's gradient, not the synthesis's."""
    from ..latent.directions import principal_directions

    d = None
    if direction is not None:
        dirs, _ = principal_directions(atlas.w.astype(np.float64), direction + 1)
        if not 0 <= direction < len(dirs):
            raise UserError(f"direction {direction}: the atlas has directions 0..{len(dirs) - 1}")
        d = dirs[direction]
    dev, dt = G.w_avg.device, G.w_avg.dtype
    psi = atlas.psi

    def w_of(z: torch.Tensor) -> torch.Tensor:  # W at the atlas truncation, as the atlas stores it
        c = None
        if G.c_dim:
            c = torch.zeros(1, G.c_dim, device=dev)
            c[0, 0] = 1
        return G.mapping(z[None], c, truncation_psi=psi)[0, 0]

    def jac(z: np.ndarray) -> np.ndarray:  # (w_dim, z_dim)
        with torch.enable_grad():
            return torch.autograd.functional.jacobian(w_of, torch.tensor(z, dtype=dt, device=dev)).double().cpu().numpy()

    def w_np(z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return w_of(torch.tensor(z, dtype=dt, device=dev)).double().cpu().numpy()

    z0 = np.asarray(found.z, np.float64)
    w0 = w_np(z0)
    scale = step * w_spacing(atlas)
    j0 = jac(z0)
    rng = np.random.default_rng([0, 0xA71])
    out = []
    amounts = np.ones(count)
    if d is not None:  # both ways along the direction: +1, -1, +2/2 ... never 0
        half = (count + 1) // 2
        amounts = np.array([((i // 2) + 1) / half * (1 if i % 2 == 0 else -1) for i in range(count)])
    for amount in amounts:
        if d is None:  # a random direction on the sphere the mapping normalises z to
            u = rng.standard_normal(len(z0))
            u -= (u @ z0) / (z0 @ z0) * z0
        else:  # the W direction pulled back through the Jacobian (well-conditioned part only)
            u, *_ = np.linalg.lstsq(j0, d, rcond=1e-2)
        z = z0 + amount * u * scale / (np.linalg.norm(j0 @ u) + 1e-12)
        moved = w_np(z) - w0
        err = abs(float(np.linalg.norm(moved)) - abs(amount) * scale) / scale
        if d is not None:
            cos = float(moved @ d * np.sign(amount) / (np.linalg.norm(moved) + 1e-12))
            err = max(err, float(np.sqrt(max(0.0, 1 - cos * cos))))  # and the angle off the direction
        out.append((z, err))
    return out
