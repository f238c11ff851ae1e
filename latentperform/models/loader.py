"""One entry point for every kind of network, plus what `latentperform inspect MODEL` prints.

    load_generator("builtin")                      the built-in CPPN (no file)
    load_generator("builtin:512")                  ... at 512 px
    load_generator("builtin:455x256,seed=3")       ... 455 wide, 256 high, network seed 3
    load_generator("my-faces.pkl", device="auto", precision="auto")   StyleGAN2/2-ADA/3 pickle, fp16 on CUDA
    load_generator("export.pt")                    TorchScript generator (see torchscript.py)
    load_generator("python:mypkg.nets:make")       plugin factory (see plugin.py)

Pickles go through the allow-list unpickler (safe_pickle.py): nothing in the file is executed.
Which string means which kind is the table in latentperform/kinds.py (one line per kind; the patch
schema reads the same table).  Network files are cached by (path, mtime, device, precision): the
same file asked for twice costs one load; an edited file is loaded afresh.
"""

from __future__ import annotations

import importlib
import threading
from pathlib import Path

import numpy as np
import torch

from ..config import UserError
from .. import kinds
from ..kinds import expected_kinds, kind_for
from .base import Generator, LoadHints, ModelError, to_uint8
from .device import device_of, resolve, run_dtype_of

_cache: dict[tuple, Generator] = {}
_cache_lock = threading.Lock()


def load_generator(path_or_spec: str | Path, device: str | torch.device = "cpu", precision: str = "fp32",
                   *, accelerate: str = "eager", resolution: int | None = None, seed: int | None = None,
                   output_size: tuple[int, int] | None = None) -> Generator:
    """Any registered kind of generator (latentperform/kinds.py), built on its device in its
    precision, once: nothing after the loader moves or casts it.

    device     "auto" (CUDA when there is one), "cpu", "cuda", "cuda:<n>", "mps"
    precision  "auto" (fp16 on CUDA, fp32 elsewhere), "fp32", "fp16" (a StyleGAN's fp16 layers
               in half on CUDA), "reference" (StyleGAN pickles: the arithmetic of the code that
               wrote the pickle, to compare with renders made by it: StyleGAN2-ADA runs its
               use_fp16 blocks in half even on the CPU, in its own order of operations; the
               StyleGAN3 repository's code uses half on CUDA only.  Slow; not for shows)
    accelerate "eager", "graphs" (replay the batch-1 synthesis as a CUDA graph; a no-op off
               CUDA), "compile" (torch.compile): for StyleGAN networks
    resolution, seed, output_size  the patch's [model] resolution and seed and the output's
               (width, height), for kinds with no native size (the built-in network)

    Raises ModelError (one line) when the spec names no registered kind, the file is missing,
    is not a network, is damaged, or holds anything unexpected."""
    spec = str(path_or_spec)
    placement = resolve(device, precision)
    hints = LoadHints(resolution=resolution, seed=seed, output_size=output_size, accelerate=accelerate)
    kind = kind_for(spec)
    if kind is None:
        name = Path(spec).name or spec
        raise ModelError(f"{name}: unknown model kind (expected {expected_kinds()})")
    if not kind.is_file:
        return importlib.import_module(kind.module).load(spec, placement, hints)

    path = Path(spec).expanduser()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelError(f"{spec}: no such model file") from None
    except OSError as e:
        raise ModelError(f"{spec}: cannot read ({e.strerror or e})") from None
    if not path.is_file():
        raise ModelError(f"{spec}: not a file")
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, placement, accelerate)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    G = _file_kind(path).load(str(path), placement, hints)
    with _cache_lock:
        # an edited file replaces its older entry
        for old in [k for k in _cache if k[0] == key[0] and k[1:3] != key[1:3]]:
            del _cache[old]
        _cache[key] = G
    return G


def _file_kind(path: Path):
    """The module of the first registered file kind whose suffix matches and that claims the
    file (a kind sharing its suffix with a later one says `claims(path)`; see kinds.py)."""
    for kind in kinds.GENERATOR_KINDS:  # read at call time: the table is the one registry
        if kind.is_file and kind.matches(str(path)):
            module = importlib.import_module(kind.module)
            claims = getattr(module, "claims", None)
            if claims is None or claims(path):
                return module
    raise ModelError(f"{path.name}: no registered kind reads this file")


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def describe(G: Generator) -> dict:
    """What a network is: kind, sizes, conditional or not, parameter count."""
    params = 0
    if isinstance(G, torch.nn.Module):
        params = sum(p.numel() for p in G.parameters())
    elif hasattr(G, "module") and isinstance(G.module, torch.nn.Module):
        params = sum(p.numel() for p in G.module.parameters())
    kind = getattr(G, "kind_label", None) or getattr(G, "kind", None) or type(G).__name__
    return {
        "kind": kind,
        "resolution": int(G.resolution),
        "channels": int(G.img_channels),
        "num_ws": int(G.num_ws),
        "w_dim": int(G.w_dim),
        "z_dim": int(G.z_dim),
        "c_dim": int(G.c_dim),
        "conditional": bool(G.c_dim),
        "parameters": int(params),
    }


def _tile_pixels(img: torch.Tensor) -> np.ndarray:
    """(C, H, W) nominal [-1, 1] -> (H, W, 3) uint8 (grey and extra channels handled)."""
    x = to_uint8(img[None])[0].permute(2, 0, 1).cpu()   # (C, H, W) uint8
    if x.shape[0] == 1:
        x = x.expand(3, -1, -1)
    elif x.shape[0] == 2:
        x = torch.cat([x, x[:1]], 0)
    return x[:3].permute(1, 2, 0).numpy()


def _check_output(path: str | Path) -> Path:
    """Refuse a contact-sheet path that cannot be written, before anything is rendered."""
    p = Path(path).expanduser()
    if p.is_dir():
        raise UserError(f"cannot write {p}: it is a directory")
    if not p.parent.is_dir():
        raise UserError(f"cannot write {p}: the folder {p.parent} does not exist")
    if p.suffix.lower() != ".png":
        raise UserError(f"cannot write {p}: a contact sheet is a .png file (got {p.suffix or 'no extension'!r})")
    return p


def contact_sheet(G: Generator, seeds, path_png: str | Path, psi: float = 0.7,
                  columns: int | None = None, cell: int = 256) -> Path:
    """Render one picture per seed (z drawn with numpy's RandomState(seed), as NVlabs'
    scripts do) into a grid PNG; returns the path."""
    from PIL import Image

    seeds = list(seeds)
    if not seeds:
        raise ModelError("contact sheet needs at least one seed")
    path_png = _check_output(path_png)
    columns = columns or min(len(seeds), 4)
    rows = (len(seeds) + columns - 1) // columns
    sheet = Image.new("RGB", (columns * cell, rows * cell), (0, 0, 0))
    device = G.w_avg.device
    for i, seed in enumerate(seeds):
        z = torch.from_numpy(np.random.RandomState(int(seed)).randn(1, G.z_dim)).float().to(device)
        c = None
        if G.c_dim:
            c = torch.zeros(1, G.c_dim, device=device)
            c[0, int(seed) % G.c_dim] = 1
        try:
            with torch.no_grad():
                img = G(z, c, truncation_psi=psi)
            tile = Image.fromarray(_tile_pixels(img[0])).resize((cell, cell), Image.LANCZOS)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - a network may fail any way it likes
            text = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            raise ModelError(f"the network failed to render seed {seed} for the contact sheet "
                             f"({type(e).__name__}{': ' + text if text else ''})") from None
        sheet.paste(tile, ((i % columns) * cell, (i // columns) * cell))
    try:
        sheet.save(path_png, format="PNG")  # PNG whatever the file is called
    except OSError as e:
        raise UserError(f"cannot write {path_png}: {e.strerror or e}") from None
    return path_png


def inspect_model(path: str | Path, out_png: str | Path | None = None,
                  seeds=range(8), psi: float = 0.7, device: str = "cpu", precision: str = "fp32") -> str:
    """The text `latentperform inspect MODEL` prints; renders a contact sheet if out_png."""
    if out_png is not None:
        _check_output(out_png)
    G = load_generator(path, device=device, precision=precision)
    d = describe(G)
    lines = [f"{path}",
             f"  kind          {d['kind']}",
             f"  resolution    {d['resolution']} x {d['resolution']}, {d['channels']} channel(s)",
             f"  latents       z {d['z_dim']}, w {d['w_dim']} x {d['num_ws']} layers",
             f"  conditional   {'yes, ' + str(d['c_dim']) + ' classes' if d['conditional'] else 'no'}",
             f"  parameters    {d['parameters']:,}",
             f"  runs on       {device_of(G)}, {str(run_dtype_of(G)).replace('torch.', '')}"]
    if hasattr(G, "describe_training") and G.describe_training():
        lines.append(f"  trained on    {G.describe_training()}")
    if out_png is not None:
        seeds = list(seeds)
        contact_sheet(G, seeds, out_png, psi=psi)
        lines.append(f"  contact sheet {out_png} (seeds {', '.join(map(str, seeds))}, psi {psi})")
    return "\n".join(lines)
