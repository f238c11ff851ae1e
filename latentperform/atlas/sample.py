"""Sampling the model: seeds -> z -> W -> thumbnails, in batches, resumable; and the model's
identity, so an atlas is never used with a network it was not made from.

Seeds give z exactly as a patch keyframe `seed = s` does (latent.keyframes.z_from_seed), so any
sample of the atlas can become a keyframe by its seed alone.

Resuming: every finished batch is saved to NAME.atlas.part/ (plain .npy, never pickle) with a
small JSON describing the build; a second run with the same model and settings skips what is
there.  The folder is removed once the atlas is written.
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ..latent.keyframes import z_from_seed
from ..models.base import to_uint8 as _to_uint8
from ..models.loader import describe
from .atlasfile import AtlasError

PROBE_SEEDS = 4            # W of the first seeds is kept in the header: the model's fingerprint
PROBE_TOLERANCE = 2e-2     # relative to |W|: survives CPU vs GPU arithmetic, not another network


class Progress:
    """A one-line progress bar with ETA on stderr (only redrawn a few times a second)."""

    def __init__(self, total: int, label: str, stream=None, done: int = 0) -> None:
        self.total, self.label, self.done = int(total), label, int(done)
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.start_done = self.done
        self._last = 0.0

    def update(self, n: int) -> None:
        self.done += int(n)
        now = time.monotonic()
        if now - self._last < 0.25 and self.done < self.total:
            return
        self._last = now
        rate = (self.done - self.start_done) / max(now - self.start, 1e-9)
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        frac = self.done / max(self.total, 1)
        bar = "#" * int(frac * 30)
        eta_text = f"{eta:5.0f} s left" if np.isfinite(eta) else "  ... s left"
        self.stream.write(f"\r{self.label} [{bar:<30}] {self.done}/{self.total} {eta_text}")
        if self.done >= self.total:
            self.stream.write(f"\r{self.label} [{'#' * 30}] {self.total}/{self.total} in "
                              f"{now - self.start:.1f} s       \n")
        self.stream.flush()


def seeds_z(seeds: np.ndarray, z_dim: int) -> np.ndarray:
    """(N, z_dim) float32, one z per seed, exactly as a keyframe seed gives it."""
    return np.stack([z_from_seed(int(s), z_dim) for s in seeds]).astype(np.float32)


def _labels(G, n: int, start: int, device) -> torch.Tensor | None:
    if not G.c_dim:
        return None
    c = torch.zeros(n, G.c_dim, device=device)
    c[torch.arange(n), (torch.arange(n) + start) % G.c_dim] = 1
    return c


@torch.no_grad()
def map_seeds(G, seeds: np.ndarray, psi: float = 1.0, batch: int = 1024) -> np.ndarray:
    """(N, w_dim) float32: the W of each seed (layer 0 of ws; mapping broadcasts one w)."""
    device = G.w_avg.device
    out = []
    for start in range(0, len(seeds), batch):
        part = seeds[start:start + batch]
        z = torch.from_numpy(seeds_z(part, G.z_dim)).to(device)
        ws = G.mapping(z, _labels(G, len(part), start, device), truncation_psi=psi)
        out.append(ws[:, 0].float().cpu().numpy())
    return np.concatenate(out).astype(np.float32)


def _synth(G, ws: torch.Tensor, size: int) -> torch.Tensor:
    """Pictures at size×size: the built-in renders that size directly; others are resized."""
    code = getattr(type(G).synthesis, "__code__", None)
    if code is not None and "size" in code.co_varnames:
        img = G.synthesis(ws, noise_mode="const", size=(size, size))
    else:
        img = G.synthesis(ws, noise_mode="const")
    img = img.float()
    if img.shape[1] == 1:
        img = img.expand(-1, 3, -1, -1)
    img = img[:, :3]
    if img.shape[-2:] != (size, size):
        img = torch.nn.functional.interpolate(img, size=(size, size), mode="area" if img.shape[-1] > size
                                              else "bilinear", align_corners=None if img.shape[-1] > size else False)
    return img  # (N, 3, size, size), nominal [-1, 1]


def render_w(G, w: np.ndarray | torch.Tensor, size: int) -> torch.Tensor:
    """(N, w_dim) W -> (N, 3, size, size) float in [-1, 1] (differentiable when w requires grad)."""
    w = torch.as_tensor(w, dtype=G.w_avg.dtype, device=G.w_avg.device)
    ws = w[:, None, :].expand(-1, G.num_ws, -1)
    return _synth(G, ws, size)


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """(N, 3, H, W) nominal [-1, 1] -> (N, H, W, 3) uint8."""
    return _to_uint8(img).cpu().numpy()


def model_identity(G, spec: str) -> dict:
    """What the atlas header says about its model: sizes, and the W of a few probe seeds."""
    d = describe(G)
    probe = np.arange(PROBE_SEEDS)
    return {"spec": str(spec), "kind": d["kind"], "z_dim": int(G.z_dim), "w_dim": int(G.w_dim),
            "num_ws": int(G.num_ws), "c_dim": int(G.c_dim), "resolution": int(G.resolution),
            "probe_seeds": probe.tolist(), "probe_w": map_seeds(G, probe).round(6).tolist()}


def check_model(model: dict, G, spec: str, atlas_name: str) -> None:
    """AtlasError unless G is the network the atlas was built from."""
    built = f"{model.get('spec')!r} ({model.get('kind')}, w {model.get('w_dim')} x {model.get('num_ws')})"
    mine = f"{spec!r} ({describe(G)['kind']}, w {G.w_dim} x {G.num_ws})"
    msg = f"{atlas_name} was made from model {built}, not from {mine}: rebuild it with `latentperform atlas`"
    for key in ("z_dim", "w_dim", "num_ws", "c_dim"):
        if int(model.get(key, -1)) != int(getattr(G, key)):
            raise AtlasError(msg)
    probe = np.asarray(model.get("probe_w", []), dtype=np.float64)
    seeds = np.asarray(model.get("probe_seeds", []), dtype=np.int64)
    if probe.shape != (len(seeds), G.w_dim) or not len(seeds):
        raise AtlasError(f"{atlas_name}: damaged atlas (no model fingerprint)")
    mine_w = map_seeds(G, seeds).astype(np.float64)
    scale = max(float(np.abs(probe).mean()), 1e-6)
    if float(np.abs(mine_w - probe).max()) > PROBE_TOLERANCE * scale:
        raise AtlasError(msg)


class PartialBuild:
    """NAME.atlas.part/: the finished batches of an interrupted build."""

    def __init__(self, out: Path, key: dict) -> None:
        self.dir = Path(str(out) + ".part")
        self.key = key
        if self.dir.is_dir():
            try:
                old = json.loads((self.dir / "build.json").read_text())
            except (OSError, ValueError):
                old = None
            if old != key:  # another model or other settings: start over
                shutil.rmtree(self.dir, ignore_errors=True)
        self.dir.mkdir(exist_ok=True)
        (self.dir / "build.json").write_text(json.dumps(key))

    def _path(self, start: int) -> Path:
        return self.dir / f"batch-{start:08d}.npy"

    def load(self, start: int, n: int, size: int) -> np.ndarray | None:
        p = self._path(start)
        if not p.is_file():
            return None
        try:
            arr = np.load(p, allow_pickle=False)
        except (OSError, ValueError, EOFError):
            return None
        return arr if arr.shape == (n, size, size, 3) and arr.dtype == np.uint8 else None

    def save(self, start: int, thumbs: np.ndarray) -> None:
        tmp = self.dir / f".tmp-{start}.npy"
        np.save(tmp, thumbs, allow_pickle=False)
        tmp.replace(self._path(start))

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)


@torch.no_grad()
def render_thumbnails(G, w: np.ndarray, size: int, batch: int = 64, partial: PartialBuild | None = None,
                      progress: Callable[[int], None] | None = None) -> np.ndarray:
    """(N, size, size, 3) uint8 thumbnails of W, batch by batch on the generator."""
    n = len(w)
    out = np.empty((n, size, size, 3), dtype=np.uint8)
    for start in range(0, n, batch):
        m = min(batch, n - start)
        cached = partial.load(start, m, size) if partial is not None else None
        if cached is None:
            cached = to_uint8(render_w(G, w[start:start + m], size))
            if partial is not None:
                partial.save(start, cached)
        out[start:start + m] = cached
        if progress is not None:
            progress(m)
    return out
