"""The CUDA-only paths of models/, on a real NVIDIA GPU: the loader's fp16 (half layers, float32
weights), CUDA graphs, the worker's pinned host ring and GL-order device tensor, and the device
bug this suite exists for (a CUDA network stays on CUDA through the worker).  Marked `cuda`:
skipped with a reason on a machine without one; bench/gpu.sh runs them on a GPU."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from latentperform.events import LatentRequest
from latentperform.models import InferenceWorker, load_generator
from latentperform.models.device import device_of

pytestmark = pytest.mark.cuda

# bench/gpu.sh carries the fixture it needs in .fixtures/ (../shared does not travel to a GPU machine)
FIXTURES = Path(os.environ.get("LP_FIXTURES") or Path(__file__).resolve().parents[2].parent / "shared/fixtures/stylegan")
SG3 = FIXTURES / "sg3-t-64.pkl"


def _request(G, seq=0, **kw):
    z = np.random.RandomState(seq).randn(G.z_dim).astype(np.float32)
    return LatentRequest(z=z, seq=seq, time=seq / 60, **kw)


def _needs(path: Path) -> Path:
    if not path.is_file():
        pytest.skip(f"no fixture {path}")
    return path


def test_auto_loads_a_stylegan_on_cuda_in_half_and_the_worker_keeps_it_there():
    G = load_generator(_needs(SG3), device="auto", precision="auto")
    assert device_of(G).type == "cuda"
    assert G.synthesis.run_dtype == torch.float16 and G.w_avg.dtype == torch.float32  # fp16 layers, fp32 weights
    with InferenceWorker(G) as worker:
        assert worker.device == device_of(G)
        worker.submit(_request(G))
        frame = worker.wait(0, timeout=60)
    assert frame.ok, frame.error
    assert device_of(G).type == "cuda" and all(p.device.type == "cuda" for p in G.parameters())


def test_fp16_matches_fp32_on_the_same_weights():
    half = load_generator(_needs(SG3), device="cuda", precision="fp16")
    full = load_generator(SG3, device="cuda", precision="fp32")
    z = torch.randn(2, full.z_dim, device="cuda", generator=torch.Generator("cuda").manual_seed(0))
    with torch.no_grad():
        a, b = half(z, truncation_psi=0.7).float(), full(z, truncation_psi=0.7).float()
    rel = float((a - b).norm() / b.norm())
    assert torch.isfinite(a).all() and rel < 2e-2, f"fp16 vs fp32 relative L2 {rel:.3g}"


def test_builtin_fp16_on_cuda_is_cast_by_the_loader_only():
    G = load_generator("builtin:64", device="cuda", precision="fp16")
    assert G.w_avg.dtype == torch.float16 and G.w_avg.device.type == "cuda"
    frame = InferenceWorker(G).render_now(_request(G))
    assert frame.ok, frame.error
    assert G.w_avg.dtype == torch.float16 and G.w_avg.device.type == "cuda"


def test_cuda_graphs_replay_what_eager_computes():
    G = load_generator(_needs(SG3), device="cuda", precision="fp32", accelerate="eager")
    ws = G.mapping(torch.randn(1, G.z_dim, device="cuda"), truncation_psi=0.7)
    with torch.no_grad():
        eager = G.synthesis(ws).clone()
        G.accelerate("graphs", batch=1)
        assert G.synthesis.graphs, "a graph should have been captured for batch 1"
        graphed = G.synthesis(ws)
        G.accelerate("eager")
    torch.testing.assert_close(graphed, eager, atol=1e-3, rtol=1e-3)


def test_live_frames_come_in_the_pinned_ring_with_a_gl_order_device_tensor():
    G = load_generator("builtin:48", device="cuda", precision="fp32")
    with InferenceWorker(G) as worker:
        frames = []
        for seq in range(5):
            worker.submit(_request(G, seq))
            frames.append(worker.wait(seq, timeout=60))
            assert frames[-1].ok, frames[-1].error
        last = frames[-1]
        assert torch.from_numpy(last.pixels).is_pinned()
        assert last.tensor is not None and last.tensor.device == device_of(G)
        np.testing.assert_array_equal(last.tensor.flip(0).cpu().numpy(), last.pixels)  # bottom row first
        # the ring never rewrites the buffer of the newest frame or the one handed out
        assert len(worker._pinned) <= 4
        # a batch (latent in-between frames) lands in a pinned batch buffer too
        worker.submit(_request(G, 10, time=1.0), interpolate=1 / 60)
        batch = worker.wait(10, timeout=60)
        assert batch.ok and batch.inbetween, batch.error
        assert torch.from_numpy(batch.pixels).is_pinned()
    assert device_of(G).type == "cuda"
