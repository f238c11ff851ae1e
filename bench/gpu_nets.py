"""The model and patch the GPU run's live-loop and offline-render figures use (bench/gpu.sh).

    python bench/gpu_nets.py --out DIR [--resolution 1024] [--tiny]

writes DIR/show.toml: the default patch (patches/default.toml: its shaders, mappings, keyframes)
with `[model]` pointing at a StyleGAN2 config-f network of `--resolution` with random weights,
`device = "auto"`, `precision = "auto"`: what a VJ with an NVIDIA card and a pickle runs.  With
NVIDIA's code here (bench/nvidia_ref.py) the network is a real NVIDIA-format snapshot pickle
(DIR/config-f-<res>.pkl), loaded by the same loader as an artist's file; without it, the plugin
kind `python:gpu_nets:config_f_<res>` (this module, on PYTHONPATH) builds it with our classes.
Prints the patch's path and which of the two it is.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
sys.path.insert(1, str(REPO))


def _config_f(resolution: int, tiny: bool, device="cpu", dtype=None):
    """Our config-f StyleGAN2 (random weights) built on `device`, its fp16 layers in `dtype`."""
    import torch

    from latentperform.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator

    torch.manual_seed(0)
    kw = dict(channel_base=256, channel_max=32, z_dim=32, w_dim=32, mapping_layers=2) if tiny else {}
    G = StyleGAN2Generator(StyleGAN2Config.standard(resolution, **kw)).to(device)
    G.set_precision(dtype or torch.float32)
    return G


def config_f_1024(device="cpu", dtype=None):
    return _config_f(1024, False, device, dtype)


def config_f_64_tiny(device="cpu", dtype=None):
    return _config_f(64, True, device, dtype)


def write_show(out: Path, resolution: int, tiny: bool) -> tuple[Path, str]:
    out.mkdir(parents=True, exist_ok=True)
    import nvidia_ref

    why = nvidia_ref.available()
    if why is None:
        G = nvidia_ref.build("stylegan2", resolution, tiny=tiny)
        kind = str(nvidia_ref.snapshot(G, out, f"config-f-{resolution}"))
        what = f"NVIDIA-format snapshot pickle {kind} (built by NVIDIA's code, random weights)"
    else:
        name = "config_f_64_tiny" if tiny else f"config_f_{resolution}"
        if tiny and resolution != 64 or not tiny and resolution != 1024:
            raise SystemExit("without NVIDIA's code: --resolution 1024 (or 64 with --tiny) only")
        kind = f"python:gpu_nets:{name}"
        what = f"plugin {kind} (our classes, random weights; {why})"
    text = (REPO / "patches" / "default.toml").read_text()
    model = (f'[model]\nkind = "{kind}"\nresolution = {resolution}\nseed = 0\n'
             'device = "auto"\nprecision = "auto"\n\n')
    text = re.sub(r"^\[model\]\s*\n(?:(?!\[).*\n?)*", model, text, count=1, flags=re.M)
    path = out / "show.toml"
    path.write_text(text)
    return path, what


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--resolution", type=int, default=1024)
    ap.add_argument("--tiny", action="store_true", help="a few channels (a dry run on a CPU)")
    args = ap.parse_args()
    path, what = write_show(args.out, args.resolution, args.tiny)
    print(f"{path}\t{what}")
