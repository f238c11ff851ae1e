"""NVIDIA's own StyleGAN code as a timing and parity reference, for bench/ only.

The code (github.com/NVlabs/stylegan3, NVIDIA Source Code License: non-commercial) is never part
of this repository: `bench/gpu.sh` expects an export of it in a git-ignored folder (default
`.nvlabs/stylegan3` at the repository root, or $LP_NVLABS), made with

    git -C <clone> archive HEAD LICENSE.txt dnnlib torch_utils training/__init__.py \
        training/networks_stylegan2.py training/networks_stylegan3.py | tar -x -C .nvlabs/stylegan3

and imports it from there, here only.  Nothing of it is copied or adapted: this module builds
NVIDIA's networks with their own constructors (random weights, seeded), pickles them the way
their training loop writes a snapshot, and our loader reads that pickle, so both sides run the
same weights.

Custom CUDA ops: NVIDIA's bias_act / upfirdn2d / filtered_lrelu compile CUDA extensions on first
use.  `ops_mode("auto")` tries to build them and falls back to NVIDIA's reference (pure PyTorch)
ops if the build fails; `ops_mode("ref")` uses the reference ops outright.  `ops_report()` says
which ran, to be printed next to every NVIDIA figure.

    python bench/nvidia_ref.py --build-ops     build the custom ops (exit 0 when all three built)
"""

from __future__ import annotations

import io
import os
import pickle
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OPS = ("bias_act", "upfirdn2d", "filtered_lrelu")
_state = {"mode": None, "failed": {}}


def export_dir() -> Path:
    return Path(os.environ.get("LP_NVLABS", REPO / ".nvlabs" / "stylegan3"))


def available() -> str | None:
    """None when NVIDIA's code can be imported, else why not (one line)."""
    d = export_dir()
    if not (d / "training" / "networks_stylegan2.py").is_file():
        return f"no export of NVlabs/stylegan3 at {d} (see bench/nvidia_ref.py)"
    try:
        _import()
    except Exception as e:  # noqa: BLE001 - a reference that cannot run is reported, not fatal
        return f"NVIDIA's code does not import here: {type(e).__name__}: {e}"
    return None


def _import():
    d = str(export_dir())
    if d not in sys.path:
        sys.path.insert(0, d)
    if "pkg_resources" not in sys.modules:
        try:
            import pkg_resources  # noqa: F401 - their conv2d_gradfix asks for parse_version
        except ImportError:  # setuptools without pkg_resources: give them packaging's parse_version
            import packaging.version
            shim = types.ModuleType("pkg_resources")
            shim.parse_version = packaging.version.parse
            sys.modules["pkg_resources"] = shim
    from training import networks_stylegan2, networks_stylegan3
    return networks_stylegan2, networks_stylegan3


def _ops_modules():
    _import()
    from torch_utils.ops import bias_act, filtered_lrelu, upfirdn2d
    return {"bias_act": bias_act, "upfirdn2d": upfirdn2d, "filtered_lrelu": filtered_lrelu}


def ops_mode(mode: str = "auto") -> str:
    """"auto": build (or load the built) custom CUDA ops, each falling back to NVIDIA's reference
    op when it does not build; "ref": reference ops only.  Returns ops_report()."""
    import torch

    mods = _ops_modules()
    from torch_utils import custom_ops
    custom_ops.verbosity = "none"
    _state["mode"] = mode
    for name, mod in mods.items():
        if mode == "ref" or not torch.cuda.is_available():
            mod._init = lambda: False  # their dispatch: impl == "cuda" and x.is_cuda and _init()
            continue
        try:
            mod._init()
        except Exception as e:  # noqa: BLE001 - a failed build falls back to the reference op
            first = (str(e).strip().splitlines() or [type(e).__name__])[-1][:200]
            _state["failed"][name] = first
            mod._init = lambda: False
    return ops_report()


def ops_report() -> str:
    import torch

    if not torch.cuda.is_available():
        return "NVIDIA's reference ops (no CUDA: their custom ops run on CUDA only)"
    if _state["mode"] == "ref":
        return "NVIDIA's reference ops (asked for: --nvidia-ops ref)"
    mods = _ops_modules()
    built = [n for n in OPS if getattr(mods[n], "_plugin", None) is not None]
    failed = [f"{n} ({_state['failed'][n]})" for n in OPS if n in _state["failed"]]
    if len(built) == len(OPS):
        return "NVIDIA's custom CUDA ops (all three built)"
    return (f"custom CUDA ops built: {', '.join(built) or 'none'}; reference ops for the others"
            + (f"; failed: {'; '.join(failed)}" if failed else ""))


def build(kind: str, resolution: int, *, tiny: bool = False, seed: int = 0):
    """NVIDIA's Generator, random weights drawn from `seed`, in eval mode on the CPU.
    kind: "stylegan2" (config-f: 8 mapping layers, channel_base 32768, channel_max 512),
    "stylegan3-t", "stylegan3-r" (1x1 convolutions, doubled channels, radial filters).
    tiny: a few channels, for a dry run on a CPU."""
    import torch

    sg2, sg3 = _import()
    torch.manual_seed(seed)
    z = w = 32 if tiny else 512
    base = 512 if tiny else 32768
    cmax = 32 if tiny else 512
    common = dict(z_dim=z, c_dim=0, w_dim=w, img_resolution=resolution, img_channels=3)
    if kind == "stylegan2":
        G = sg2.Generator(**common, mapping_kwargs=dict(num_layers=2 if tiny else 8), channel_base=base,
                          channel_max=cmax, num_fp16_res=4, conv_clamp=256)
    elif kind in ("stylegan3-t", "stylegan3-r"):
        radial = kind == "stylegan3-r"
        if tiny:
            cmax = 16  # StyleGAN3's 14 layers at tiny sizes: keep the dry run to seconds
        G = sg3.Generator(**common, mapping_kwargs=dict(num_layers=2), channel_base=base * (2 if radial else 1),
                          channel_max=cmax * (2 if radial else 1), num_fp16_res=4, conv_clamp=256,
                          conv_kernel=1 if radial else 3, use_radial_filters=radial)
    else:
        raise ValueError(f"unknown kind {kind!r}")
    return G.eval().requires_grad_(False)


def snapshot(G, folder: Path, name: str) -> Path:
    """G pickled as NVIDIA's training loop writes a snapshot ({"G_ema": G}), for our loader."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.pkl"
    buf = io.BytesIO()
    pickle.dump({"G_ema": G}, buf)
    path.write_bytes(buf.getvalue())
    return path


def synthesis_fn(G, fp16: bool):
    """ws -> image with NVIDIA's synthesis: their fp16 blocks in half on CUDA (fp16) or all in
    float32 (force_fp32)."""
    def run(ws):
        return G.synthesis(ws, noise_mode="const", force_fp32=not fp16)
    return run


if __name__ == "__main__":
    import argparse

    ap = argparse.ArgumentParser(description="NVIDIA's StyleGAN code as a reference (see the docstring)")
    ap.add_argument("--build-ops", action="store_true", help="build their custom CUDA ops; exit 1 if any failed")
    args = ap.parse_args()
    why = available()
    if why:
        print(why)
        sys.exit(2)
    if args.build_ops:
        report = ops_mode("auto")
        print(report)
        sys.exit(0 if report.startswith("NVIDIA's custom CUDA ops") else 1)
    print(f"NVIDIA's code imports from {export_dir()}")
