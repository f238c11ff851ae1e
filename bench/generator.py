"""StyleGAN inference speed: StyleGAN2 config-f and StyleGAN3-T/-R, fp32 / fp16 / fp16 + CUDA graphs
(and torch.compile with --compile), batch 1 and the latent in-between batch, against NVIDIA's own
code on the same weights in the same run.

    python bench/generator.py [--frames 100] [--sizes 1024] [--sg3-sizes 1024] [--sg3-kinds t r]
                              [--batches 1 8] [--compile] [--nvidia auto|off] [--nvidia-ops auto|ref]
    python bench/generator.py --quick [--device cpu]     seconds: tiny networks and the fixture pickles
    python bench/generator.py --dry-run                   the whole GPU matrix with tiny networks, on any
                                                          device (checks the script, not the figures)

Networks: random weights at the published sizes (config-f: z/w 512, 8 mapping layers, channel_base
32768, channel_max 512, fp16 in the 4 highest resolutions; StyleGAN3-T: the paper's schedule;
-R: 1x1 convolutions, doubled channels, radial filters), so each costs what a trained one does.
With NVIDIA's code available (bench/nvidia_ref.py: an export in a git-ignored folder), every
network is built by NVIDIA's constructors, pickled as their training writes a snapshot, and
loaded by our loader: both sides run the same weights, and NVIDIA's synthesis is timed on the
same ws.  Without it, StyleGAN2 and -T are built by our own classes and -R is skipped (its
radial filters come from NVIDIA's design code).

Each line: median ms per synthesis call (ws -> image, already on the device) and pictures/s,
timed with CUDA events after a warm-up (perf_counter on a CPU); batch N lines also give ms per
picture.  Then, per network: fp16 vs fp32 relative L2 (||fp16 - fp32|| / ||fp32||, same weights
and ws; target <= 1e-2), parity with NVIDIA's code (relative L2 and max abs, fp32), and our best
batch-1 time against NVIDIA's (target: config-f 1024² <= 5 ms on an H100/H200 and <= 0.5x theirs).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))          # nvidia_ref, beside this file
sys.path.insert(1, str(Path(__file__).resolve().parents[1]))      # this checkout's latentperform

from latentperform.models.stylegan2 import StyleGAN2Config, StyleGAN2Generator  # noqa: E402
from latentperform.models.stylegan3 import build_stylegan3_t  # noqa: E402


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


def time_call(fn, ws: torch.Tensor, frames: int, warmup: int = 10) -> list[float]:
    """Per-call milliseconds of fn(ws): CUDA events on CUDA, perf_counter elsewhere."""
    cuda = ws.device.type == "cuda"
    with torch.inference_mode():
        for _ in range(warmup):
            fn(ws)
        if cuda:
            torch.cuda.synchronize()
        times = []
        for _ in range(frames):
            if cuda:
                start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                fn(ws)
                end.record()
                end.synchronize()
                times.append(start.elapsed_time(end))
            else:
                t0 = time.perf_counter()
                fn(ws)
                times.append((time.perf_counter() - t0) * 1e3)
    return times


def time_synthesis(G, ws: torch.Tensor, frames: int, warmup: int = 10) -> list[float]:
    return time_call(G.synthesis, ws, frames, warmup)


def _compare(a: torch.Tensor, b: torch.Tensor) -> tuple[float, float]:
    """(relative L2 of a against b, max abs difference); inf when a is not finite."""
    a, b = a.float(), b.float()
    if not torch.isfinite(a).all():
        return float("inf"), float("inf")
    return float((a - b).norm() / b.norm()), float((a - b).abs().max())


def relative_error(G, ws: torch.Tensor, allow_cpu: bool) -> float:
    """||fp16 - fp32|| / ||fp32|| of the synthesis on the same ws."""
    with torch.inference_mode():
        G.set_precision(torch.float32)
        G.accelerate("eager")
        ref = G.synthesis(ws).float()
        G.set_precision(torch.float16, allow_cpu=allow_cpu)
        half = G.synthesis(ws).float()
        G.set_precision(torch.float32)
    return _compare(half, ref)[0]


def _line(label: str, batch: int, precision: str, mode: str, times: list[float], note: str = "") -> float:
    med = statistics.median(times)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    if batch == 1:
        figure = f"{med:8.2f} ms/frame {1e3 / med:8.1f} frames/s"
    else:
        figure = f"{med:8.2f} ms/batch of {batch} ({med / batch:.2f} ms/frame, {1e3 * batch / med:.1f} frames/s)"
    print(f"{label:<28} b{batch:<2} {precision:<5} {mode:<8} {figure}  (p95 {p95:.2f} ms, n={len(times)}){note}",
          flush=True)
    return med


def bench_network(label: str, G, device: torch.device, frames: int, modes: list[str],
                  allow_cpu_half: bool, batches=(1,), nvidia=None, warmup: int = 10) -> dict:
    """Time G (ours) at each batch, precision and mode, and NVIDIA's `nvidia` (their module on
    the same weights, or None) at each batch in fp32 and fp16; print parity.  Returns the
    batch-1 medians {(who, precision, mode): ms}."""
    G = G.to(device)
    best: dict = {}
    z_all = torch.randn(max(batches), G.z_dim, generator=torch.Generator().manual_seed(1)).to(device)
    ws_by_batch = {b: G.mapping(z_all[:b], None, truncation_psi=0.7) for b in batches}
    for b in batches:
        ws = ws_by_batch[b]
        n = frames if b == 1 else min(frames, max(frames // 4, 3))
        for precision in (torch.float32, torch.float16):
            word = str(precision)[6:].replace("float", "fp")
            for mode in modes:
                G.set_precision(precision, allow_cpu=allow_cpu_half)
                try:
                    G.accelerate(mode, batch=b)
                    med = _line(label, b, word, mode, time_synthesis(G, ws, n, warmup))
                except Exception as e:  # report and carry on with the other lines
                    print(f"{label:<28} b{b:<2} {word:<5} {mode:<8} failed: {type(e).__name__}: {e}", flush=True)
                    continue
                if b == 1:
                    best[("ours", word, mode)] = med
        if nvidia is not None:
            from nvidia_ref import ops_report, synthesis_fn
            n_nv = n if "all three built" in ops_report() or device.type != "cuda" else max(3, n // 5)  # ref ops: slow
            for fp16 in (False, True):
                word = "fp16" if fp16 else "fp32"
                try:
                    med = _line(f"{label} NVIDIA", b, word, "eager", time_call(synthesis_fn(nvidia, fp16), ws, n_nv, min(warmup, n_nv)),
                                f"  [{ops_report()}]")
                except Exception as e:
                    print(f"{label + ' NVIDIA':<28} b{b:<2} {word:<5} eager    failed: {type(e).__name__}: {e}", flush=True)
                    continue
                if b == 1:
                    best[("nvidia", word, "eager")] = med
    G.accelerate("eager")
    ws1 = ws_by_batch[min(batches)]
    err = relative_error(G, ws1, allow_cpu_half)
    print(f"{label:<22} fp16 vs fp32 relative error {err:.2e} (target <= 1e-2)", flush=True)
    if nvidia is not None:
        from nvidia_ref import synthesis_fn
        with torch.inference_mode():
            G.set_precision(torch.float32)
            ours32 = G.synthesis(ws1)
            G.set_precision(torch.float16, allow_cpu=allow_cpu_half)
            ours16 = G.synthesis(ws1)
            G.set_precision(torch.float32)
            nv32 = synthesis_fn(nvidia, False)(ws1)
            nv16 = synthesis_fn(nvidia, True)(ws1)
        rel, mx = _compare(ours32, nv32)
        rel16, mx16 = _compare(ours16, nv16)
        nv_err = _compare(nv16, nv32)[0]
        print(f"{label:<22} parity with NVIDIA's code, same weights and ws: fp32 relative L2 {rel:.2e}, "
              f"max abs {mx:.2e}; fp16 {rel16:.2e} / {mx16:.2e}; NVIDIA's own fp16 vs fp32 {nv_err:.2e}", flush=True)
        ours_best = min((v for (who, _, _), v in best.items() if who == "ours"), default=None)
        theirs_best = min((v for (who, _, _), v in best.items() if who == "nvidia"), default=None)
        if ours_best and theirs_best:
            print(f"{label:<22} batch 1: our best {ours_best:.2f} ms vs NVIDIA's best {theirs_best:.2f} ms: "
                  f"{ours_best / theirs_best:.2f}x their time (target <= 0.5x)", flush=True)
    return best


def bench_fixture_pickles(device: torch.device, frames: int) -> None:
    """The shared StyleGAN fixture pickles (64 px and smaller), loaded as an artist's file is."""
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


def networks(sizes, sg3_sizes, sg3_kinds, *, tiny: bool, use_nvidia: bool, folder: Path):
    """[(label, ours, NVIDIA's module or None)]: built by NVIDIA's code and loaded by ours from
    its snapshot when that code is here, else by our own classes (no -R)."""
    from latentperform.models.loader import load_generator

    why = "--nvidia off"
    if use_nvidia:
        import nvidia_ref
        why = nvidia_ref.available()
    plan = [("stylegan2", r, f"StyleGAN2-f {r}") for r in sizes]
    plan += [(f"stylegan3-{k}", r, f"StyleGAN3-{k.upper()} {r}") for r in sg3_sizes for k in sg3_kinds]
    if why is not None:
        print(f"NVIDIA reference: not run ({why}); networks built by our own classes", flush=True)
    out = []
    for kind, r, label in plan:
        label = label + (" tiny" if tiny else "")
        if why is None:
            nv = nvidia_ref.build(kind, r, tiny=tiny)
            ours = load_generator(nvidia_ref.snapshot(nv, folder, f"{kind}-{r}"), device="cpu", precision="fp32")
            out.append((label, ours, nv))
        elif kind == "stylegan2":
            out.append((label, build_sg2(r, tiny=tiny), None))
        elif kind == "stylegan3-t":
            out.append((label, build_sg3(r, tiny=tiny), None))
        else:
            print(f"{label:<22} skipped: StyleGAN3-R's radial filters are designed by NVIDIA's code, "
                  "which is not here", flush=True)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024])
    parser.add_argument("--sg3-sizes", type=int, nargs="+", default=[1024])
    parser.add_argument("--sg3-kinds", nargs="+", choices=["t", "r"], default=["t", "r"])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--compile", action="store_true", help="also time torch.compile")
    parser.add_argument("--nvidia", choices=["auto", "off"], default="auto",
                        help="NVIDIA's code as the reference when its export is here (bench/nvidia_ref.py)")
    parser.add_argument("--nvidia-ops", choices=["auto", "ref"], default="auto",
                        help="their custom CUDA ops (built on first use; reference ops if that fails) or the reference ops")
    parser.add_argument("--quick", action="store_true",
                        help="tiny networks and the fixture pickles, a few frames: seconds, on any "
                             "device (checks the script and the CPU path; not the GPU figures)")
    parser.add_argument("--dry-run", action="store_true",
                        help="the full matrix (every network, batch, precision and mode, NVIDIA's code) with "
                             "tiny networks and a few frames, on whatever device is here")
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    args = parser.parse_args(argv)

    cuda = torch.cuda.is_available() and args.device != "cpu"
    if args.device == "cuda" and not cuda:
        parser.error("--device cuda: CUDA is not available here")
    device = torch.device("cuda" if cuda else "cpu")
    if args.dry_run or (cuda and not args.quick):
        tiny = args.dry_run
        if cuda:
            torch.backends.cudnn.benchmark = True
        where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
        print(f"torch {torch.__version__}, {where}, synthesis only, batches {args.batches}"
              + ("; DRY RUN: tiny networks, a few frames (not the GPU figures)" if tiny else "")
              + ("; fp16 stays float32 off CUDA" if not cuda else ""), flush=True)
        modes = ["eager", "graphs"] + (["compile"] if args.compile else [])
        frames, warmup = (2, 1) if tiny else (args.frames, 10)
        sizes, sg3_sizes = ([32], [32]) if tiny else (args.sizes, args.sg3_sizes)
        with tempfile.TemporaryDirectory() as tmp:
            nets = networks(sizes, sg3_sizes, args.sg3_kinds, tiny=tiny, use_nvidia=args.nvidia == "auto",
                            folder=Path(tmp))
            if any(nv is not None for _, _, nv in nets):
                import nvidia_ref
                print(f"NVIDIA reference: {nvidia_ref.export_dir()}; {nvidia_ref.ops_mode(args.nvidia_ops)}", flush=True)
            for label, G, nv in nets:
                # a CPU dry run keeps float32 for "fp16" (as the loader does off CUDA): emulated half
                # convolutions take seconds a call there, and these figures are not the point
                bench_network(label, G, device, frames, modes, False, args.batches,
                              None if nv is None else nv.to(device), warmup)
        return

    if not args.quick:
        print(f"torch {torch.__version__}: no CUDA device here. The figures this script exists for need a "
              "GPU; running the quick version on the CPU (--quick; --dry-run for the whole matrix, tiny).")
    where = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {where}, batch 1, synthesis only; quick: tiny networks "
          f"(fp16 {'on CUDA' if cuda else 'emulated on the CPU'}, graphs a no-op off CUDA)")
    bench_network("StyleGAN2 tiny 32", build_sg2(32, tiny=True), device, 5, ["eager", "graphs"], True)
    bench_network("StyleGAN3-T tiny 32", build_sg3(32, tiny=True), device, 3, ["eager"], True)
    bench_fixture_pickles(device, 3)


if __name__ == "__main__":
    main()
