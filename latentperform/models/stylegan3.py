"""StyleGAN3 (config T and R) generators, written from ../shared/specs/stylegan-pickles.md.

Clean-room: tensor names follow the NVlabs pickles so weights load unchanged; the code is ours.
Every layer's resampling schedule (up/down factors, padding, sizes) and its filters come from the
pickle as attributes and buffers, so nothing is re-derived.

`synthesis(ws, transform=M)`: M is the 3x3 rotate/translate the user wants applied to the
picture ([[cos t, sin t, tx], [-sin t, cos t, ty], [0, 0, 1]], translation in picture heights);
the input layer is fed its inverse, which moves the picture with sub-pixel precision.

Speed: modulation on activations around one shared convolution (see stylegan2.py), the
resampling as strided/transposed depthwise convolutions (_ops.py), fp16 in the layers the
network was trained with in fp16 (`use_fp16`), CUDA graphs or torch.compile via `accelerate`.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._ops import SQRT2, filtered_lrelu
from .base import ModelError, user_matrices
from .safe_pickle import PersistentObject
from ._runtime import RunCache, SynthesisRuntime, accelerate, set_precision
from .stylegan2 import FullyConnected, MappingNetwork, copy_attributes, load_weights


def _ints(v) -> list[int]:
    return [int(x) for x in np.asarray(v).reshape(-1)]


def rotate_translate(angle_deg: float = 0.0, tx: float = 0.0, ty: float = 0.0) -> torch.Tensor:
    """The user's 3x3 transform: rotate by angle (degrees) and translate (picture heights)."""
    a = math.radians(angle_deg)
    return torch.tensor([[math.cos(a), math.sin(a), tx], [-math.sin(a), math.cos(a), ty], [0.0, 0.0, 1.0]])


class SynthesisInput(nn.Module):
    """Fourier features on a continuous grid, rotated/translated by the first w."""

    def __init__(self, w_dim: int, channels: int, size: int, sampling_rate: float, bandwidth: float) -> None:
        super().__init__()
        self.channels = channels
        self.size = [int(size), int(size)]
        self.sampling_rate, self.bandwidth = float(sampling_rate), float(bandwidth)
        freqs = torch.randn(channels, 2)
        radii = freqs.square().sum(dim=1, keepdim=True).sqrt()
        freqs = freqs / (radii * radii.square().exp().pow(0.25)) * bandwidth
        self.weight = nn.Parameter(torch.randn(channels, channels), requires_grad=False)
        self.affine = FullyConnected(w_dim, 4)
        with torch.no_grad():
            self.affine.weight.zero_()
            self.affine.bias.copy_(torch.tensor([1.0, 0.0, 0.0, 0.0]))
        self.register_buffer("transform", torch.eye(3))
        self.register_buffer("freqs", freqs)
        self.register_buffer("phases", torch.rand(channels) - 0.5)

    def forward(self, w: torch.Tensor, transform: torch.Tensor | None = None) -> torch.Tensor:
        n = w.shape[0]
        t = self.affine(w)  # (N, 4): cos, sin, tx, ty (up to scale)
        t = t / t[:, :2].norm(dim=1, keepdim=True)
        eye = torch.eye(3, device=w.device, dtype=w.dtype)
        m_r = eye.repeat(n, 1, 1)  # inverse rotation of the learned one
        m_r[:, 0, 0], m_r[:, 0, 1], m_r[:, 1, 0], m_r[:, 1, 1] = t[:, 0], -t[:, 1], t[:, 1], t[:, 0]
        m_t = eye.repeat(n, 1, 1)  # inverse translation
        m_t[:, 0, 2], m_t[:, 1, 2] = -t[:, 2], -t[:, 3]
        user = self.transform.unsqueeze(0) if transform is None else _inverse_user(transform, w)
        T = m_r @ m_t @ user  # (N, 3, 3); one user transform for all, or one per picture
        phases = self.phases.unsqueeze(0) + (self.freqs.unsqueeze(0) @ T[:, :2, 2:]).squeeze(2)
        freqs = self.freqs.unsqueeze(0) @ T[:, :2, :2]  # (N, C, 2)
        amp = (1 - (freqs.norm(dim=2) - self.bandwidth) /
               (self.sampling_rate / 2 - self.bandwidth)).clamp(0, 1)  # (N, C)
        # pixel j sits at (j + 0.5 - size/2) / sampling_rate
        sw, sh = self.size
        gx = (torch.arange(sw, device=w.device, dtype=w.dtype) + 0.5 - sw / 2) / self.sampling_rate
        gy = (torch.arange(sh, device=w.device, dtype=w.dtype) + 0.5 - sh / 2) / self.sampling_rate
        # (N, H, W, C) = gx * fx + gy * fy + phase
        x = (gx.view(1, 1, sw, 1) * freqs[:, None, None, :, 0] + gy.view(1, sh, 1, 1) * freqs[:, None, None, :, 1]
             + phases[:, None, None, :])
        x = torch.sin(x * (2 * math.pi)) * amp[:, None, None, :]
        x = x @ (self.weight / math.sqrt(self.channels)).t()
        return x.permute(0, 3, 1, 2).contiguous()  # (N, C, H, W)


def _inverse_user(transform: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """(3, 3) or (N, 3, 3) user motion -> (1 or N, 3, 3) inverse, for the input layer."""
    m = user_matrices(transform, like.shape[0])
    return torch.linalg.inv(m.double()).to(device=like.device, dtype=like.dtype)



class SynthesisLayer(nn.Module):
    """Modulated conv ('full' padding) -> filtered leaky ReLU (up, lrelu, down), or ToRGB."""

    def __init__(self, w_dim: int, in_channels: int, out_channels: int, *, is_torgb: bool,
                 conv_kernel: int, up_factor: int, down_factor: int, padding: list[int],
                 up_filter: torch.Tensor | None, down_filter: torch.Tensor | None,
                 conv_clamp: float | None = 256.0, use_fp16: bool = False) -> None:
        super().__init__()
        self.is_torgb = is_torgb
        self.in_channels, self.out_channels = in_channels, out_channels
        self.conv_kernel, self.up_factor, self.down_factor = conv_kernel, up_factor, down_factor
        self.padding = list(padding)
        self.conv_clamp, self.use_fp16 = conv_clamp, use_fp16
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, conv_kernel, conv_kernel),
                                   requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_channels), requires_grad=False)
        self.register_buffer("magnitude_ema", torch.ones([]))
        self.register_buffer("up_filter", up_filter)
        self.register_buffer("down_filter", down_filter)
        self._cache = RunCache()

    def _run_weights(self, dtype: torch.dtype, channels_last: bool):
        key = (self.weight.device, dtype, channels_last, self.weight._version, self.weight.data_ptr())
        if self._cache.key != key:
            w = self.weight.float()
            if not self.is_torgb:  # pre-normalise (fp16 safe, and demodulation divides it out)
                w = w * w.square().mean(dim=[1, 2, 3], keepdim=True).rsqrt()
            wsq = w.square().sum(dim=[2, 3])  # (O, I)
            run = w.to(dtype).contiguous(memory_format=torch.channels_last if channels_last
                                         else torch.contiguous_format)
            self._cache.key, self._cache.value = key, (run, wsq)
        return self._cache.value

    def forward(self, x: torch.Tensor, w: torch.Tensor, dtype: torch.dtype,
                channels_last: bool = False) -> torch.Tensor:
        run_w, wsq = self._run_weights(dtype, channels_last)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        x = x.to(dtype=dtype, memory_format=fmt)
        s = self.affine(w)  # (N, I) fp32
        demod = None
        if self.is_torgb:
            s = s * (1.0 / math.sqrt(self.in_channels * self.conv_kernel ** 2))
        else:
            s = s * s.square().mean(dim=1, keepdim=True).rsqrt()
            demod = (s.square() @ wsq.t() + 1e-8).rsqrt()  # (N, O)
        s = s * self.magnitude_ema.rsqrt()  # the input gain, applied after demodulation
        x = x * s.to(dtype)[:, :, None, None]
        x = F.conv2d(x, run_w, padding=self.conv_kernel - 1)
        if demod is not None:
            x = x * demod.to(dtype)[:, :, None, None]
        gain, slope = (1.0, 1.0) if self.is_torgb else (SQRT2, 0.2)
        return filtered_lrelu(x, self.up_filter, self.down_filter, self.bias, self.up_factor,
                              self.down_factor, tuple(self.padding), gain, slope, self.conv_clamp)


class SynthesisNetwork(SynthesisRuntime):
    def __init__(self, w_dim: int, input_layer: SynthesisInput, layers: dict[str, SynthesisLayer],
                 output_scale: float) -> None:
        super().__init__()
        self.w_dim = w_dim
        self.input = input_layer
        self.layer_names = list(layers)
        for name, layer in layers.items():
            self.add_module(name, layer)
        self.num_ws = len(layers) + 1
        self.output_scale = float(output_scale)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                transform: torch.Tensor | None = None) -> torch.Tensor:
        """noise_mode is accepted and ignored: StyleGAN3 has no noise inputs."""
        graph = self.graph_for(ws, "const", transform)
        return graph(ws) if graph is not None else self.run(ws, noise_mode, transform)

    def _synthesize(self, ws: torch.Tensor, noise_mode: str = "const",
                    transform: torch.Tensor | None = None) -> torch.Tensor:
        ws = ws.float().unbind(dim=1)
        x = self.input(ws[0], transform)
        for name, w in zip(self.layer_names, ws[1:]):
            layer = getattr(self, name)
            dtype = self.run_dtype if layer.use_fp16 else torch.float32
            x = layer(x, w, dtype, self.channels_last)
        if self.output_scale != 1:
            x = x * self.output_scale
        return x.float().contiguous()


class StyleGAN3Generator(nn.Module):
    """A StyleGAN3 generator (T or R); implements the `Generator` protocol (see base.py)."""

    batched_transform = True  # synthesis takes one transform per picture, (N, 3, 3)

    kind = "stylegan3"

    @property
    def kind_label(self) -> str:
        """What `inspect` calls it: stylegan3-t or stylegan3-r."""
        return "stylegan3-r" if getattr(self, "radial", False) else "stylegan3-t"

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, img_resolution: int, img_channels: int,
                 mapping: MappingNetwork, synthesis: SynthesisNetwork) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim = z_dim, c_dim, w_dim
        self.resolution, self.img_channels = img_resolution, img_channels
        self.num_ws = synthesis.num_ws
        self.mapping = mapping
        self.synthesis = synthesis
        self.requires_grad_(False)
        self.eval()

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    @property
    def radial(self) -> bool:
        return any(getattr(self.synthesis, n).down_filter is not None
                   and getattr(self.synthesis, n).down_filter.ndim == 2 for n in self.synthesis.layer_names)

    def forward(self, z, c=None, truncation_psi: float = 1.0, noise_mode: str = "const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)

    def set_precision(self, dtype: torch.dtype = torch.float16, *, allow_cpu: bool = False) -> None:
        """See StyleGAN2Generator.set_precision."""
        set_precision(self, dtype, allow_cpu)

    def accelerate(self, mode: str = "graphs", batch: int = 1) -> None:
        """See StyleGAN2Generator.accelerate."""
        accelerate(self, mode, batch)

    @classmethod
    def from_persistent(cls, G: PersistentObject, source: str = "model") -> "StyleGAN3Generator":
        syn, mapping_po, inp = G.find("synthesis"), G.find("mapping"), G.find("synthesis.input")
        if syn is None or mapping_po is None or inp is None:
            raise ModelError(f"{source}: not a StyleGAN3 generator (no synthesis.input)")
        sd = G.tensors()
        w_dim = int(G.attr("w_dim"))
        c_dim = int(G.attr("c_dim", 0) or 0)
        num_layers = len([k for k in mapping_po.children if k.startswith("fc")])
        ch0 = int(sd["synthesis.input.weight"].shape[0])
        size = _ints(inp.attr("size"))[0]
        input_layer = SynthesisInput(w_dim, ch0, size, float(np.asarray(inp.attr("sampling_rate"))),
                                     float(np.asarray(inp.attr("bandwidth"))))
        layers: dict[str, SynthesisLayer] = {}
        for name in syn.attr("layer_names", []):
            po = syn.find(name)
            if po is None:
                raise ModelError(f"{source}: missing synthesis layer {name}")
            weight = sd[f"synthesis.{name}.weight"]
            clamp = po.attr("conv_clamp")
            layers[name] = SynthesisLayer(
                w_dim, int(weight.shape[1]), int(weight.shape[0]), is_torgb=bool(po.attr("is_torgb")),
                conv_kernel=int(po.attr("conv_kernel")), up_factor=int(po.attr("up_factor")),
                down_factor=int(po.attr("down_factor")), padding=_ints(po.attr("padding")),
                up_filter=sd.get(f"synthesis.{name}.up_filter"),
                down_filter=sd.get(f"synthesis.{name}.down_filter"),
                conv_clamp=None if clamp is None else float(np.asarray(clamp)),
                use_fp16=bool(po.attr("use_fp16", False)))
        if not layers:
            raise ModelError(f"{source}: StyleGAN3 synthesis without layers")
        synthesis = SynthesisNetwork(w_dim, input_layer, layers, float(np.asarray(syn.attr("output_scale", 1.0))))
        embed = sd.get("mapping.embed.weight")
        mapping = MappingNetwork(int(G.attr("z_dim")), c_dim, w_dim, synthesis.num_ws, num_layers,
                                 int(embed.shape[0]) if embed is not None else None,
                                 int(sd["mapping.fc0.weight"].shape[0]) if num_layers > 1 else None,
                                 float(np.asarray(mapping_po.find("fc0").attr("bias_gain", 0.01))))
        net = cls(int(G.attr("z_dim")), c_dim, w_dim, int(G.attr("img_resolution")),
                  int(G.attr("img_channels")), mapping, synthesis)
        load_weights(net, sd, source)
        copy_attributes(net, G)
        return net


# ---- building a network from its size (random weights: benchmarks, tests) ------------------------

def _kaiser_lowpass(numtaps: int, cutoff: float, width: float, fs: float) -> torch.Tensor | None:
    """Windowed-sinc lowpass (Kaiser window sized for the transition width), unit DC gain."""
    if numtaps == 1:
        return None
    nyq = fs / 2
    atten = 2.285 * (numtaps - 1) * math.pi * (width / nyq) + 7.95
    if atten > 50:
        beta = 0.1102 * (atten - 8.7)
    elif atten > 21:
        beta = 0.5842 * (atten - 21) ** 0.4 + 0.07886 * (atten - 21)
    else:
        beta = 0.0
    m = np.arange(numtaps) - (numtaps - 1) / 2
    h = (cutoff / nyq) * np.sinc((cutoff / nyq) * m) * np.kaiser(numtaps, beta)
    return torch.tensor(h / h.sum(), dtype=torch.float32)


def build_stylegan3_t(resolution: int = 1024, *, z_dim: int = 512, w_dim: int = 512,
                      img_channels: int = 3, channel_base: int = 32768, channel_max: int = 512,
                      num_layers: int = 14, num_critical: int = 2, margin_size: int = 10,
                      num_fp16_res: int = 4, mapping_layers: int = 2, seed: int = 0) -> StyleGAN3Generator:
    """A StyleGAN3-T generator of the given size with random weights (the same cost as a
    trained one): the layer schedule of the StyleGAN3 paper (cutoffs rising geometrically from 2
    to resolution/2, the last `num_critical` layers critically sampled, 10-sample margins)."""
    torch.manual_seed(seed)
    first_cutoff, first_stopband = 2.0, 2 ** 2.1
    last_cutoff = resolution / 2
    last_stopband = last_cutoff * 2 ** 0.3
    exponents = np.minimum(np.arange(num_layers + 1) / (num_layers - num_critical), 1)
    cutoffs = first_cutoff * (last_cutoff / first_cutoff) ** exponents
    stopbands = first_stopband * (last_stopband / first_stopband) ** exponents
    rates = np.exp2(np.ceil(np.log2(np.minimum(stopbands * 2, resolution))))
    half_widths = np.maximum(stopbands, rates / 2) - cutoffs
    sizes = rates + margin_size * 2
    sizes[-2:] = resolution
    channels = np.rint(np.minimum((channel_base / 2) / cutoffs, channel_max))
    channels[-1] = img_channels
    layers: dict[str, SynthesisLayer] = {}
    for idx in range(num_layers + 1):
        prev = max(idx - 1, 0)
        is_torgb = idx == num_layers
        kernel = 1 if is_torgb else 3
        tmp_rate = max(rates[prev], rates[idx]) * (1 if is_torgb else 2)
        up = int(np.rint(tmp_rate / rates[prev]))
        down = int(np.rint(tmp_rate / rates[idx]))
        up_taps = 6 * up if up > 1 and not is_torgb else 1
        down_taps = 6 * down if down > 1 and not is_torgb else 1
        in_size, out_size = int(sizes[prev]), int(sizes[idx])
        pad_total = (out_size - 1) * down + 1 - (in_size + kernel - 1) * up + up_taps + down_taps - 2
        pad_lo = (pad_total + up) // 2
        pad_hi = pad_total - pad_lo
        name = f"L{idx}_{out_size}_{int(channels[idx])}"
        layers[name] = SynthesisLayer(
            w_dim, int(channels[prev]), int(channels[idx]), is_torgb=is_torgb, conv_kernel=kernel,
            up_factor=up, down_factor=down, padding=[pad_lo, pad_hi, pad_lo, pad_hi],
            up_filter=_kaiser_lowpass(up_taps, cutoffs[prev], half_widths[prev] * 2, tmp_rate),
            down_filter=_kaiser_lowpass(down_taps, cutoffs[idx], half_widths[idx] * 2, tmp_rate),
            conv_clamp=256.0, use_fp16=bool(rates[idx] * 2 ** num_fp16_res > resolution))
    input_layer = SynthesisInput(w_dim, int(channels[0]), int(sizes[0]), float(rates[0]), float(cutoffs[0]))
    synthesis = SynthesisNetwork(w_dim, input_layer, layers, 0.25)
    mapping = MappingNetwork(z_dim, 0, w_dim, synthesis.num_ws, mapping_layers)
    return StyleGAN3Generator(z_dim, 0, w_dim, resolution, img_channels, mapping, synthesis)
