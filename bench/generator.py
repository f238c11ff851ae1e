"""StyleGAN inference speed on CUDA: config-f StyleGAN2 at 256/512/1024 and StyleGAN3-T at
512/1024, fp32 vs fp16, eager vs CUDA graphs (and torch.compile with --compile), batch 1.

    python bench/generator.py [--frames 200] [--sizes 256 512 1024] [--sg3-sizes 512 1024] [--compile]
    python bench/generator.py --quick [--device cpu]     seconds: tiny networks and the fixture pickles

Networks are built in our clean-room classes with random weights at the published sizes (config-f:
512 channels up to 64 px, then 256, 128, 64, 32; StyleGAN3-T: the paper's schedule), so each costs
what a trained one does.  Each line: median ms/frame and frames/s of the synthesis (ws -> image,
already on the GPU), timed with CUDA events after a warm-up; then the fp16 output's relative error
against fp32 (||fp16 - fp32|| / ||fp32||, same weights and ws).

On a machine without CUDA it says so and runs the quick version on the CPU (seconds), so the
script itself stays tested: tiny networks (fp16 emulated on the CPU) and the shared fixture
pickles in float32.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from latentperform.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator
from latentperform.models.stylegan3 import build_stylegan3_t


def build_sg2(resolution: int, *, tiny: bool = False) -> StyleGAN2Generator:
    torch.manual_seed(0)
    if tiny:
        cfg = StyleGAN2Config.standard(resolution, channel_base=256, channel_max=32, z_dim=32, w_dim=32,
                                       mapping_layers=2)
    else:
        cfg = StyleGAN2Config.standard(resolution)  # config-f: 32768 / 512, 8 mapping layers
    return StyleGAN2Generator(cfg)


def build_sg3(resolution: int, *, tiny: bool = False):
    if tiny:
        return build_stylegan3_t(resolution, z_dim=32, w_dim=32, channel_base=512, channel_max=32)
    return build_stylegan3_t(resolution)


def time_synthesis(G, ws: torch.Tensor, frames: int, warmup: int = 10) -> list[float]:
    """Per-frame milliseconds of G.synthesis(ws): CUDA events on CUDA, perf_counter elsewhere."""
    cuda = ws.device.type == "cuda"
    with torch.inference_mode():
        for _ in range(warmup):
            G.synthesis(ws)
        if cuda:
            torch.cuda.synchronize()
        times = []
        for _ in range(frames):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                G.synthesis(ws)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                G.synthesis(ws)
                times.append((time.perf_counter() - t0) * 1e3)
    return times


def relative_error(G, ws: torch.Tensor, allow_cpu: bool) -> float:
    """||fp16 - fp32|| / ||fp32|| of the synthesis on the same ws."""
    with torch.inference_mode():
        G.set_precision(torch.float32)
        G.accelerate("eager")
        ref = G.synthesis(ws).float()
        G.set_precision(torch.float16, allow_cpu=allow_cpu)
        half = G.synthesis(ws).float()
        G.set_precision(torch.float32)
    if not torch.isfinite(half).all():
        return float("inf")
    return float((half - ref).norm() / ref.norm())


def bench_network(label: str, G, device: torch.device, frames: int, modes: list[str],
                  allow_cpu_half: bool) -> None:
    G = G.to(device)
    ws = G.mapping(torch.randn(1, G.z_dim, device=device, generator=None), truncation_psi=0.7)
    for precision in (torch.float32, torch.float16):
        for mode in modes:
            G.set_precision(precision, allow_cpu=allow_cpu_half)
            try:
                G.accelerate(mode, batch=1)
                times = time_synthesis(G, ws, frames)
            except Exception as e:  # report and carry on with the other lines
                print(f"{label:<22} {str(precision)[6:]:<8} {mode:<8} failed: {type(e).__name__}: {e}")
                continue
            med = statistics.median(times)
            p95 = sorted(times)[int(0.95 * (len(times) - 1))]
            print(f"{label:<22} {str(precision)[6:]:<8} {mode:<8} {med:8.2f} ms/frame {1e3 / med:8.1f} frames/s"
                  f"  (p95 {p95:.2f} ms, n={len(times)})", flush=True)
    G.accelerate("eager")
    err = relative_error(G, ws, allow_cpu_half)
    print(f"{label:<22} fp16 vs fp32 relative error {err:.2e}", flush=True)


def bench_fixture_pickles(device: torch.device, frames: int) -> None:
    """The shared StyleGAN fixture pickles (64 px and smaller), loaded as an artist's file is."""
    from pathlib import Path

    from latentperform.models.loader import load_generator

    fixtures = Path(__file__).resolve().parents[1].parent / "shared/fixtures/stylegan"
    for path in sorted(fixtures.glob("*.pkl")):
        G = load_generator(path, device=device)
        c = torch.eye(G.c_dim, device=device)[:1] if G.c_dim else None
        ws = G.mapping(torch.randn(1, G.z_dim, device=device), c, truncation_psi=0.7)
        times = time_synthesis(G, ws, frames, warmup=2)
        med = statistics.median(times)
        print(f"{path.stem:<22} float32  eager    {med:8.2f} ms/frame {1e3 / med:8.1f} frames/s  "
              f"(fixture pickle, {G.resolution} px, n={len(times)})", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512, 1024])
    parser.add_argument("--sg3-sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--quick", action="store_true",
                        help="tiny networks and the fixture pickles, a few frames: seconds, on any "
                             "device (checks the script and the CPU path; not the GPU figures)")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not cuda:
        parser.error("--device cuda: CUDA is not available here")
    device = torch.device("cuda" if cuda else "cpu")
    if cuda and not args.quick:
        torch.backends.cudnn.benchmark = True
        print(f"torch {torch.__version__}, {torch.cuda.get_device_name()}, batch 1, synthesis only")
        modes = ["eager", "graphs"] + (["compile"] if args.compile else [])
        for r in args.sizes:
            bench_network(f"StyleGAN2-f {r}", build_sg2(r), device, args.frames, modes, False)
        for r in args.sg3_sizes:
            bench_network(f"StyleGAN3-T {r}", build_sg3(r), device, args.frames, modes, False)
        return

    if not args.quick:
        print(f"torch {torch.__version__}: no CUDA device here. The figures this script exists for need a "
              "GPU; running the quick version on the CPU (--quick).")
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, batch 1, synthesis only; quick: tiny networks "
          f"(fp16 {'on CUDA' if cuda else 'emulated on the CPU'}, graphs a no-op off CUDA)")
    bench_network("StyleGAN2 tiny 32", build_sg2(32, tiny=True), device, 5, ["eager", "graphs"], True)
    bench_network("StyleGAN3-T tiny 32", build_sg3(32, tiny=True), device, 3, ["eager"], True)
    bench_fixture_pickles(device, 3)


if __name__ == "__main__":
    main()
