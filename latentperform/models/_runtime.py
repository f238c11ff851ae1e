"""What the StyleGAN2 and StyleGAN3 networks share to run fast: the synthesis base class (ws
check, precision state, CUDA-graph lookup), per-layer weight caches, `set_precision` and
`accelerate`."""

from __future__ import annotations

import torch
from torch import nn

from .base import ModelError


class RunCache:
    """Per-(device, dtype) copies of a layer's weight for inference, rebuilt when either changes."""

    def __init__(self) -> None:
        self.key = None
        self.value = None


class SynthesisRuntime(nn.Module):
    """Base of the StyleGAN2 and StyleGAN3 synthesis networks: the precision state that
    `set_precision` writes, the CUDA graphs that `accelerate` captures, and the one check of ws.

    A subclass sets `num_ws` and `w_dim`, implements `_synthesize(ws, noise_mode, ...)`, and starts
    its forward with `graph_for`.
    """

    num_ws: int
    w_dim: int

    def __init__(self) -> None:
        super().__init__()
        self.run_dtype = torch.float32
        self.channels_last = False
        self.graphs: dict = {}  # (ws shape, noise_mode) -> GraphedSynthesis
        self.run = self._synthesize  # or its torch.compile'd form

    def graph_for(self, ws: torch.Tensor, noise_mode: str, transform) -> "GraphedSynthesis | None":
        """Check ws's shape (a ModelError naming the expected one); the captured CUDA graph that
        replays this call, or None (no graph for this shape, or a transform is asked for)."""
        if ws.ndim != 3 or ws.shape[1] != self.num_ws or ws.shape[2] != self.w_dim:
            raise ModelError(f"ws must be (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        if transform is not None:
            return None
        if getattr(self, "bending", False):  # a graph would replay the bends' first values
            return None
        return self.graphs.get((tuple(ws.shape), noise_mode))

    def _synthesize(self, ws: torch.Tensor, noise_mode: str = "const", *args) -> torch.Tensor:
        raise NotImplementedError


class GraphedSynthesis:
    """Replays one captured CUDA graph of the synthesis for a fixed input shape."""

    def __init__(self, fn, ws_example: torch.Tensor) -> None:
        self.static_ws = ws_example.clone()
        stream = torch.cuda.Stream()
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream), torch.no_grad():
            for _ in range(3):  # warm up: cuDNN autotune, weight caches
                fn(self.static_ws)
        torch.cuda.current_stream().wait_stream(stream)
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph), torch.no_grad():
            self.static_out = fn(self.static_ws)

    def __call__(self, ws: torch.Tensor) -> torch.Tensor:
        self.static_ws.copy_(ws)
        self.graph.replay()
        return self.static_out.clone()


def set_precision(G: nn.Module, dtype: torch.dtype, allow_cpu: bool, reference: bool = False) -> None:
    """Shared by StyleGAN2 and StyleGAN3: G.synthesis.run_dtype / channels_last / reference."""
    on_cuda = G.w_avg.device.type == "cuda"
    if dtype not in (torch.float16, torch.bfloat16, torch.float32):
        raise ModelError(f"unsupported precision {dtype}: use torch.float32 or torch.float16")
    if reference and not hasattr(G.synthesis, "reference"):
        raise ModelError(f"{type(G).__name__} has no reference arithmetic mode")
    if dtype != torch.float32 and not (on_cuda or allow_cpu or reference):
        dtype = torch.float32  # half convolutions on the CPU are slow and gain nothing
    G.synthesis.run_dtype = dtype
    G.synthesis.channels_last = on_cuda and not reference
    if hasattr(G.synthesis, "reference"):
        G.synthesis.reference = bool(reference)
    G.synthesis.graphs.clear()


def accelerate(G: nn.Module, mode: str, batch: int) -> None:
    """Shared by StyleGAN2 and StyleGAN3; see StyleGAN2Generator.accelerate."""
    syn = G.synthesis
    syn.graphs.clear()
    syn.run = syn._synthesize
    if mode == "eager":
        return
    device = G.w_avg.device
    if mode == "graphs":
        if device.type != "cuda":
            return
        ws = G.w_avg.reshape(1, 1, -1).expand(batch, G.num_ws, -1).contiguous()
        syn.graphs[(tuple(ws.shape), "const")] = GraphedSynthesis(lambda w: syn._synthesize(w, "const"), ws)
        return
    if mode == "compile":
        syn.run = torch.compile(syn._synthesize, dynamic=False)
        return
    raise ValueError(f"accelerate mode must be 'eager', 'graphs' or 'compile', got {mode!r}")
