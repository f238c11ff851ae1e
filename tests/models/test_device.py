"""One owner of the device and the precision (models/device.py): the loader resolves `[model]
device` / `precision` once; the worker takes both from the generator and never moves or casts
it.  The regression this guards: a network loaded on CUDA was moved back to the CPU by the
worker, whose device defaulted to "cpu".  A generator on torch's `meta` device (not the CPU,
yet available everywhere) and a stand-in that records every call that could move it go through
the worker here; tests/engine/test_engine_device.py takes them through the Engine."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentperform import kinds
from latentperform.events import LatentRequest
from latentperform.models import BuiltinGenerator, InferenceWorker, ModelError, load_generator
from latentperform.models.device import Placement, apply_precision, device_of, dtype_of, resolve

MOVES = ("to", "cuda", "cpu", "half", "float", "double", "bfloat16", "type", "to_empty")


class Recording(BuiltinGenerator):
    """The built-in network, recording every call that could move or cast it."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.moves: list[str] = []  # filled only after construction

    def __getattribute__(self, name):
        if name in MOVES:
            self.__dict__.setdefault("moves", []).append(name)
        return super().__getattribute__(name)


class MetaGenerator:
    """A Generator whose tensors live on torch's meta device: shapes, no data, not the CPU."""

    z_dim, c_dim, w_dim, num_ws, resolution, img_channels = 4, 0, 4, 3, 8, 3
    batched_transform = True

    def __init__(self) -> None:
        self.w_avg = torch.zeros(4, device="meta")
        self.moved = []

    def to(self, *args, **kwargs):  # a Generator need not have it; if anyone calls it, we know
        self.moved.append((args, kwargs))
        return self

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        assert z.device.type == "meta", z.device
        return torch.zeros(z.shape[0], self.num_ws, self.w_dim, device=z.device)

    def synthesis(self, ws, noise_mode="const", transform=None):
        assert ws.device.type == "meta", ws.device
        return torch.zeros(ws.shape[0], 3, 8, 8, device=ws.device)

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi))


def _request(seq=0, z_dim=64, **kw):
    return LatentRequest(z=np.linspace(-1, 1, z_dim, dtype=np.float32), seq=seq, time=seq / 30, **kw)


def test_auto_resolves_once_to_this_machines_device_and_precision():
    p = resolve("auto", "auto")
    assert p.device.type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert p.dtype == (torch.float16 if p.device.type == "cuda" else torch.float32)
    assert p.precision == ("fp16" if p.device.type == "cuda" else "fp32")  # "auto" is gone
    assert resolve("cpu", "auto") == Placement(torch.device("cpu"), torch.float32, "fp32")
    assert resolve("cpu", "fp16").dtype == torch.float16  # asked for: StyleGAN keeps fp32 on a CPU
    assert resolve("cpu", "reference").reference


def test_one_precision_vocabulary_from_the_patch_to_the_loader(tmp_path):
    """Every word the patch schema takes, the loader takes, and the other way round."""
    from latentperform.patch import PatchError, parse_patch

    for word in ("auto", "fp32", "fp16", "reference", "fast", "half", "float16", ""):
        try:
            parse_patch(f"[model]\nprecision = \"{word}\"\n", base_dir=tmp_path)
            schema_ok = True
        except PatchError:  # refused with its line
            schema_ok = False
        try:
            resolve("cpu", word)
            loader_ok = True
        except ModelError:
            loader_ok = False
        assert schema_ok == loader_ok == (word in kinds.PRECISIONS), word


def test_bad_device_and_cuda_without_cuda_are_one_line_errors():
    with pytest.raises(ModelError, match="bad device 'toaster'"):
        resolve("toaster")
    if not torch.cuda.is_available():
        with pytest.raises(ModelError, match="CUDA is not available here"):
            load_generator("builtin:16", device="cuda")


def test_worker_takes_device_and_dtype_from_a_meta_generator_and_never_moves_it():
    G = MetaGenerator()
    worker = InferenceWorker(G, synchronous=True)
    assert worker.device == torch.device("meta") == device_of(G)
    assert worker.dtype == dtype_of(G)
    ws = worker.request_ws(_request(z_dim=4, psi=0.5, w_offset=np.ones(4, np.float32)))
    assert ws.device.type == "meta" and tuple(ws.shape) == (1, 3, 4)  # latents follow the generator
    worker.submit(_request(z_dim=4, transform=np.eye(3, dtype=np.float32)))
    frame = worker.latest()
    # meta tensors hold no pixels: the frame fails, as a value, and nothing moved the network
    assert frame is not None and frame.error is not None and frame.pixels is None
    assert G.moved == [] and G.w_avg.device.type == "meta"


def test_worker_never_moves_or_casts_the_generator_live_or_offline():
    G = Recording(resolution=16, seed=1)
    G.moves.clear()
    with InferenceWorker(G) as live:
        live.submit(_request(0))
        assert live.wait(0, timeout=30).ok
        live.submit(_request(1), interpolate=1 / 60)  # a batch path too
        assert live.wait(1, timeout=30).ok
    offline = InferenceWorker(G, synchronous=True)
    offline.submit(_request(2))
    assert offline.latest().ok
    assert offline.render_now(_request(3)).ok
    assert G.moves == [], f"the worker called {G.moves} on the generator"
    assert live.device == offline.device == torch.device("cpu") == G.w_avg.device


def test_worker_device_equals_the_generators_for_a_half_generator():
    G = BuiltinGenerator(resolution=8).half()
    worker = InferenceWorker(G, synchronous=True)
    assert (worker.device, worker.dtype) == (G.w_avg.device, torch.float16)
    assert worker.request_ws(_request()).dtype == torch.float16


def test_the_loader_puts_the_network_where_the_patch_says_and_the_worker_keeps_it():
    G = load_generator("builtin", device="cpu", precision="auto", resolution=24, seed=5, output_size=(64, 36))
    assert (G.width, G.resolution, G.seed) == (32, 18, 5)  # about 24² pixels, shaped 16:9
    assert InferenceWorker(G).device == G.w_avg.device == torch.device("cpu")


def test_fp16_on_a_cpu_keeps_float32_where_half_is_slow():
    G = BuiltinGenerator(resolution=8)
    apply_precision(G, resolve("cpu", "fp16"))
    assert G.w_avg.dtype == torch.float32  # half on a CPU gains nothing; cast only on CUDA
    with pytest.raises(ModelError, match="reference"):
        apply_precision(G, resolve("cpu", "reference"))
