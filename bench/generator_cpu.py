"""Built-in generator speed on this CPU: synthesis alone, and the worker end to end (request ->
ws -> synthesis -> uint8 RGB), at 256x256 and 512x512.

    python bench/generator_cpu.py [--frames 60] [--threads N] [--sizes 256 512]
    python bench/generator_cpu.py --contact-sheet docs/builtin-contact-sheet.png

One line per measurement: ms/frame and frames/s (median of the timed frames, after a warm-up).
--contact-sheet renders a grid of random latents of the default network to a PNG instead.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from latentperform.events import LatentRequest
from latentperform.models import BuiltinGenerator, InferenceWorker
from latentperform.models.worker import retain_freed_memory


def _time(fn, frames: int, warmup: int = 5) -> list[float]:
    for _ in range(warmup):
        fn(-1)
    times = []
    for i in range(frames):
        t0 = time.perf_counter()
        fn(i)
        times.append((time.perf_counter() - t0) * 1e3)
    return times


def _report(label: str, times: list[float]) -> None:
    """Median (robust to other processes on a shared machine), with mean and p95 beside it."""
    median = statistics.median(times)
    mean = statistics.fmean(times)
    p95 = sorted(times)[int(0.95 * (len(times) - 1))]
    print(f"{label:<44} {median:7.2f} ms/frame  {1e3 / median:6.1f} frames/s  "
          f"(median; mean {mean:.2f} ms, p95 {p95:.2f} ms, n={len(times)})")


def contact_sheet(path: str, seed: int = 0, cols: int = 6, rows: int = 4, side: int = 176, gap: int = 4) -> None:
    """A grid of pictures of random latents (fixed draw) from the built-in network `seed`."""
    from PIL import Image

    G = BuiltinGenerator(resolution=side, seed=seed)
    z = torch.randn(cols * rows, G.z_dim, generator=torch.Generator().manual_seed(2026))
    with torch.inference_mode():
        img = G(z)  # (cols * rows, 3, side, side)
    tiles = ((img + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
    sheet = np.zeros((rows * (side + gap) + gap, cols * (side + gap) + gap, 3), np.uint8)
    for i, tile in enumerate(tiles):
        r, c = divmod(i, cols)
        y, x = gap + r * (side + gap), gap + c * (side + gap)
        sheet[y:y + side, x:x + side] = tile
    image = Image.fromarray(sheet)
    # 256 colours, dithered: a third of the bytes of full RGB, and no visible banding at 1:1
    palette = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    image.quantize(palette=palette, dither=Image.Dither.FLOYDSTEINBERG).save(path, optimize=True)
    print(f"wrote {path}: {cols}x{rows} latents of BuiltinGenerator(seed={seed}) at {side}x{side}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--contact-sheet", metavar="PNG", help="write a contact sheet of latents and exit")
    args = parser.parse_args()
    if args.contact_sheet:
        contact_sheet(args.contact_sheet)
        return
    if args.threads:
        torch.set_num_threads(args.threads)
    retained = retain_freed_memory()  # what every InferenceWorker does by default: same allocator for all lines
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, float32, CPU, "
          f"malloc retains freed memory: {retained}")

    rng = np.random.default_rng(0)
    for size in args.sizes:
        G = BuiltinGenerator(resolution=size, seed=0)
        zs = torch.from_numpy(rng.standard_normal((args.frames, G.z_dim)).astype(np.float32))
        with torch.inference_mode():
            ws_all = G.mapping(zs)  # (frames, num_ws, w_dim)

            def synthesis(i: int) -> None:
                G.synthesis(ws_all[max(i, 0)][None])

            _report(f"builtin synthesis {size}x{size}", _time(synthesis, args.frames))

        worker = InferenceWorker(G)
        requests = [LatentRequest(z=rng.standard_normal(G.z_dim).astype(np.float32), seq=i, psi=0.8)
                    for i in range(args.frames)]

        def render_now(i: int) -> None:
            frame = worker.render_now(requests[max(i, 0)])
            assert frame.error is None, frame.error

        _report(f"worker render_now {size}x{size} (-> uint8 RGB)", _time(render_now, args.frames))

        # The live path: submit from this thread, the worker thread renders; wait for each frame.
        def submit_and_wait(i: int) -> None:
            worker.submit(requests[max(i, 0)])
            frame = worker.wait(timeout=10)
            assert frame is not None and frame.error is None, frame

        _report(f"worker threaded {size}x{size} (submit -> frame)", _time(submit_and_wait, args.frames))
        worker.close()


if __name__ == "__main__":
    main()
