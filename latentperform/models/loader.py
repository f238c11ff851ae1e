"""One entry point for every kind of network, plus what `latentperform inspect MODEL` prints.

    load_generator("builtin")                      the built-in CPPN (no file)
    load_generator("builtin:512")                  ... at 512 px
    load_generator("builtin:455x256,seed=3")       ... 455 wide, 256 high, network seed 3
    load_generator("my-faces.pkl", device="cuda", dtype=torch.float16)   StyleGAN2/2-ADA/3 pickle
    load_generator("export.pt")                    TorchScript generator (see torchscript.py)
    load_generator("python:mypkg.nets:make")       plugin factory (see plugin.py)

Pickles go through the allow-list unpickler (safe_pickle.py): nothing in the file is executed.
Loaded networks are cached by (path, mtime, device, dtype): the same file asked for twice costs
one load; an edited file is loaded afresh.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import torch

from ..config import UserError
from .base import Generator, ModelError, to_uint8
from .safe_pickle import load_network_pickle

_cache: dict[tuple, Generator] = {}
_cache_lock = threading.Lock()


def _device(device: str | torch.device) -> torch.device:
    """A torch device; "auto" is CUDA when there is one, else the CPU."""
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise ModelError(f"bad device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ModelError(f"device {device!r} asked for, but CUDA is not available here")
    return dev


PRECISIONS = ("fast", "reference")


def load_stylegan_pickle(path: str | Path, device: str | torch.device = "cpu",
                         dtype: torch.dtype = torch.float32, accelerate: str = "eager",
                         precision: str = "fast") -> Generator:
    """A StyleGAN2 or StyleGAN3 network from an NVlabs pickle, on `device`; dtype float16 runs
    the network's fp16 layers in half on CUDA (fp32 elsewhere).  precision="reference": see
    `load_generator`."""
    from .stylegan2 import StyleGAN2Generator
    from .stylegan3 import StyleGAN3Generator

    path = Path(path)
    po = load_network_pickle(path)
    try:
        if po.find("synthesis.input") is not None:
            G = StyleGAN3Generator.from_persistent(po, path.name)
        else:
            G = StyleGAN2Generator.from_persistent(po, path.name)
    except ModelError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as e:
        raise ModelError(f"{path.name}: not a StyleGAN network this loader understands "
                         f"({type(e).__name__}: {e})") from None
    G = G.to(_device(device))
    if precision == "reference":
        if getattr(G, "source_code", None) == "training.networks":
            G.set_precision(torch.float16, reference=True)  # StyleGAN2-ADA: half on any device
        else:  # the StyleGAN3 repository's code: half on CUDA only
            G.set_precision(torch.float16 if G.w_avg.device.type == "cuda" else torch.float32)
    else:
        G.set_precision(dtype)
    try:
        G.accelerate(accelerate, batch=1)
    except ValueError as e:
        raise ModelError(str(e)) from None
    return G


_BUILTIN = re.compile(r"^builtin(?::(?:(\d+)x)?(\d+))?(?:,seed=(\d+))?$")


def _builtin_spec(spec: str) -> tuple[int, int | None, int]:
    """"builtin", "builtin:<size>", "builtin:<width>x<height>", each with an optional
    ",seed=<n>" -> (height, width or None for square, seed)."""
    m = _BUILTIN.match(spec)
    if m is None:
        raise ModelError(f'expected "builtin", "builtin:<size>" or "builtin:<width>x<height>" '
                         f'(optionally ",seed=<n>"), got {spec!r}')
    width, height, seed = m.groups()
    return int(height or 256), None if width is None else int(width), int(seed or 0)


def load_generator(path_or_spec: str | Path, device: str | torch.device = "cpu",
                   dtype: torch.dtype = torch.float32, *, accelerate: str = "eager",
                   precision: str = "fast") -> Generator:
    """Any kind of generator; see the module docstring.  device "auto" picks CUDA when there is
    one.  dtype torch.float16 runs a StyleGAN's fp16 layers in half on CUDA.  accelerate
    ("eager", "graphs", "compile") applies to StyleGAN networks: "graphs" replays the batch-1
    synthesis as a CUDA graph (no-op off CUDA).  Raises ModelError (one line) when the
    file is missing, is not a network, is damaged, or holds anything unexpected.

    precision "fast" (default) is the engine's arithmetic: float32 on the CPU.  "reference"
    (StyleGAN pickles; dtype is then ignored) reproduces the precision of the code that wrote the
    pickle, to compare with renders made by it: StyleGAN2-ADA (`training.networks`) runs the
    blocks flagged use_fp16 in half even on the CPU, in its own order of operations
    (StyleGAN2Generator.set_precision(reference=True)); the StyleGAN3 repository's code uses
    half on CUDA only.  Slow on the CPU; not for shows."""
    spec = str(path_or_spec)
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    dev = _device(device)
    if spec == "builtin" or spec.startswith("builtin:"):
        from .builtin import BuiltinGenerator

        height, width, seed = _builtin_spec(spec)
        # not cached: it is cheap to build and its resolution is a mutable attribute
        return BuiltinGenerator(resolution=height, width=width, seed=seed, device=dev)
    if spec.startswith("python:"):
        from .plugin import load_plugin

        return load_plugin(spec, dev, dtype)

    path = Path(spec).expanduser()
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise ModelError(f"{spec}: no such model file") from None
    except OSError as e:
        raise ModelError(f"{spec}: cannot read ({e.strerror or e})") from None
    if not path.is_file():
        raise ModelError(f"{spec}: not a file")
    suffix = path.suffix.lower()
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size, str(dev), dtype, accelerate, precision)
    with _cache_lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    if suffix == ".pkl":
        G = load_stylegan_pickle(path, dev, dtype, accelerate, precision)
    elif suffix in (".pt", ".ts"):
        from .trained import load_trained, read_trained

        blob = read_trained(path) if suffix == ".pt" else None
        if blob is not None:  # a network `latentperform train` made (a tensor archive)
            G = load_trained(path, dev, dtype, blob=blob)
        else:
            from .torchscript import load_torchscript

            G = load_torchscript(path, dev, dtype)
    else:
        raise ModelError(f"{path.name}: unknown model kind (expected .pkl, .pt, .ts, 'builtin' "
                         "or python:module:factory)")
    with _cache_lock:
        # an edited file replaces its older entry
        for old in [k for k in _cache if k[0] == key[0] and k[1:3] != key[1:3]]:
            del _cache[old]
        _cache[key] = G
    return G


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
    kind = getattr(G, "kind", None) or type(G).__name__
    if kind == "stylegan3" and getattr(G, "radial", False):
        kind = "stylegan3-r"
    elif kind == "stylegan3":
        kind = "stylegan3-t"
    elif kind == "stylegan2" and hasattr(G, "config"):
        kind = f"stylegan2-{G.config.architecture}"
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
                  seeds=range(8), psi: float = 0.7, device: str = "cpu") -> str:
    """The text `latentperform inspect MODEL` prints; renders a contact sheet if out_png."""
    if out_png is not None:
        _check_output(out_png)
    G = load_generator(path, device=device)
    d = describe(G)
    lines = [f"{path}",
             f"  kind          {d['kind']}",
             f"  resolution    {d['resolution']} x {d['resolution']}, {d['channels']} channel(s)",
             f"  latents       z {d['z_dim']}, w {d['w_dim']} x {d['num_ws']} layers",
             f"  conditional   {'yes, ' + str(d['c_dim']) + ' classes' if d['conditional'] else 'no'}",
             f"  parameters    {d['parameters']:,}"]
    if hasattr(G, "describe_training") and G.describe_training():
        lines.append(f"  trained on    {G.describe_training()}")
    if out_png is not None:
        seeds = list(seeds)
        contact_sheet(G, seeds, out_png, psi=psi)
        lines.append(f"  contact sheet {out_png} (seeds {', '.join(map(str, seeds))}, psi {psi})")
    return "\n".join(lines)
