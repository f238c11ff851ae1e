"""StyleGAN2 (and 2-ADA) generators, written from ../shared/specs/stylegan-pickles.md.

A clean-room implementation: the layer names and tensor shapes follow the NVlabs pickles so their
weights load as they are, but the code is our own.  One class covers the skip, resnet and orig
architectures, conditional or not, any channel count, and both repositories' layouts (the
StyleGAN2-ADA `training.networks` one and the StyleGAN3 repository's `networks_stylegan2`).

Speed (see bench/generator.py):
  - Modulation is applied to the activations, not the weights ("non-fused"): x * s -> one shared
    convolution -> x * demod.  The convolution's weight is then a fixed tensor, the same for every
    frame and every batch item, so cuDNN picks its fastest (tensor-core, channels_last) kernel at
    batch 1, where a per-sample grouped convolution would not.  The demodulation coefficients
    need only sum_k W[o, i, k]^2, precomputed once: demod = rsqrt(s^2 @ Wsq^T + 1e-8).
  - fp16 (CUDA only): the blocks the network was trained with in fp16 (`use_fp16`, NVIDIA's
    num_fp16_res: the highest resolutions) run in half, with the weights pre-scaled per output
    channel by 1/(sqrt(fan_in) max|W|) and the styles by 1/max|s| so no product overflows, and
    activations clamped to +-conv_clamp; the mapping, affines and the image accumulator stay fp32.
  - channels_last on CUDA; `accelerate("graphs")` replays the whole synthesis as a CUDA graph.

Reproducing renders of the original code (`load_generator(..., precision="reference")`,
`set_precision(..., reference=True)`): StyleGAN2-ADA's `training.networks` runs its `use_fp16`
blocks in half even on the CPU (the StyleGAN3 repository's copy switches to float32 there), so a
CPU render made with it carries fp16 rounding (about 1e-3 relative) that no float32 pass has.
The reference mode computes each layer in that code's order and precision (`forward_reference`);
it is slow on the CPU and exists for comparisons, never for shows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._ops import SQRT2, conv_transpose2d_portable_half, upfirdn2d, upsample2d
from ._runtime import RunCache, SynthesisRuntime, accelerate, set_precision
from .base import ModelError, truncate, user_matrices
from .safe_pickle import PersistentObject


def normalize_2nd_moment(x: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    return x * (x.square().mean(dim=1, keepdim=True) + eps).rsqrt()


def _float(v, default=None):
    if v is None:
        return default
    return float(np.asarray(v))


class FullyConnected(nn.Module):
    """Equalised-learning-rate linear layer: y = x @ (W * weight_gain)^T + b * bias_gain."""

    def __init__(self, in_features: int, out_features: int, *, lr_mul: float = 1.0,
                 activation: str = "linear", bias_init: float = 0.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_features, in_features) / lr_mul, requires_grad=False)
        self.bias = nn.Parameter(torch.full((out_features,), float(bias_init)), requires_grad=False)
        self.weight_gain = lr_mul / math.sqrt(in_features)
        self.bias_gain = lr_mul
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight * self.weight_gain, self.bias * self.bias_gain)
        if self.activation == "lrelu":
            x = F.leaky_relu(x, 0.2) * SQRT2
        return x


class MappingNetwork(nn.Module):
    """z (N, z_dim) [+ c (N, c_dim)] -> w (N, w_dim); shared by StyleGAN2 and StyleGAN3."""

    def __init__(self, z_dim: int, c_dim: int, w_dim: int, num_ws: int, num_layers: int = 8,
                 embed_features: int | None = None, layer_features: int | None = None,
                 lr_mul: float = 0.01) -> None:
        super().__init__()
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = z_dim, c_dim, w_dim, num_ws
        self.num_layers = num_layers
        embed_features = (w_dim if embed_features is None else embed_features) if c_dim else 0
        layer_features = w_dim if layer_features is None else layer_features
        if c_dim:
            self.embed = FullyConnected(c_dim, embed_features)
        features = [z_dim + embed_features] + [layer_features] * (num_layers - 1) + [w_dim]
        for i in range(num_layers):
            self.add_module(f"fc{i}", FullyConnected(features[i], features[i + 1], lr_mul=lr_mul,
                                                     activation="lrelu"))
        self.register_buffer("w_avg", torch.zeros(w_dim))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        parts = []
        if self.z_dim:
            parts.append(normalize_2nd_moment(z.float()))
        if self.c_dim:
            if c is None:
                raise ModelError(f"this network is conditional: it needs a class vector c of size {self.c_dim}")
            parts.append(normalize_2nd_moment(self.embed(c.float())))
        x = torch.cat(parts, dim=1) if len(parts) > 1 else parts[0]
        for i in range(self.num_layers):
            x = getattr(self, f"fc{i}")(x)
        ws = x.unsqueeze(1).expand(-1, self.num_ws, -1)  # (N, num_ws, w_dim)
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff)


def _blur_filter() -> torch.Tensor:
    k = torch.tensor([1.0, 3.0, 3.0, 1.0])
    f = torch.outer(k, k)
    return f / f.sum()


class ModulatedConv(nn.Module):
    """A StyleGAN2 synthesis layer: modulated 3x3 conv (optionally up 2x), noise, bias, lrelu."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int, *,
                 kernel_size: int = 3, up: int = 1, use_noise: bool = True,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.up, self.use_noise = resolution, up, use_noise
        self.padding = kernel_size // 2
        self.conv_clamp = conv_clamp
        self.act_gain = SQRT2
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size),
                                   requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_channels), requires_grad=False)
        if use_noise:
            self.register_buffer("noise_const", torch.randn(resolution, resolution))
            self.noise_strength = nn.Parameter(torch.zeros([]), requires_grad=False)
        self.register_buffer("resample_filter", _blur_filter())
        self._cache = RunCache()

    def _run_weights(self, dtype: torch.dtype, channels_last: bool):
        key = (self.weight.device, dtype, channels_last, self.weight._version, self.weight.data_ptr())
        if self._cache.key != key:
            w = self.weight.float()
            if dtype == torch.float16:
                # fp16 safety: scale each output channel to max |w| = 1/sqrt(fan_in); the
                # demodulation below divides the scale out again.
                w = w * (1.0 / math.sqrt(w[0].numel()) / w.abs().amax(dim=[1, 2, 3], keepdim=True))
            wsq = w.square().sum(dim=[2, 3])  # (O, I): demod = rsqrt(s^2 @ wsq^T)
            run = w.transpose(0, 1) if self.up > 1 else w  # transposed conv wants (I, O, k, k)
            run = run.to(dtype).contiguous(memory_format=torch.channels_last if channels_last
                                           else torch.contiguous_format)
            self._cache.key, self._cache.value = key, (run, wsq)
        return self._cache.value

    def _noise(self, x: torch.Tensor, noise_mode: str) -> torch.Tensor | None:
        """The noise input in float32 (N, 1, H, W) or (H, W), or None."""
        if not self.use_noise or noise_mode == "none":
            return None
        if noise_mode == "random":
            return torch.randn(x.shape[0], 1, self.resolution, self.resolution, device=x.device) * self.noise_strength
        if noise_mode == "const":
            return self.noise_const * self.noise_strength
        raise ModelError(f"noise_mode must be 'const', 'random' or 'none', got {noise_mode!r}")

    def _conv(self, x: torch.Tensor, weight: torch.Tensor, groups: int) -> torch.Tensor:
        """The (grouped) convolution of `forward_reference`; weight (G*O, I, k, k)."""
        if self.up == 1:
            return F.conv2d(x, weight, padding=self.padding, groups=groups)
        o, i, k = weight.shape[0] // groups, weight.shape[1], weight.shape[-1]
        wt = weight.reshape(groups, o, i, k, k).transpose(1, 2).reshape(groups * i, o, k, k)
        if x.dtype == torch.float16 and x.device.type == "cpu":
            x = conv_transpose2d_portable_half(x, wt, stride=self.up, groups=groups)
        else:
            x = F.conv_transpose2d(x, wt, stride=self.up, groups=groups)
        fw = self.resample_filter.shape[-1]
        p0 = self.padding + (fw + self.up - 1) // 2 - (k - 1)
        p1 = self.padding + (fw - self.up) // 2 - (k - self.up)
        return upfirdn2d(x, self.resample_filter, padding=(p0, p1, p0, p1), gain=self.up ** 2)

    def forward_reference(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const",
                          gain: float = 1.0) -> torch.Tensor:
        """The layer computed in the order, and in the precision, of the original StyleGAN2-ADA
        code (`precision="reference"`): in x.dtype; modulation fused into per-sample weights (a
        grouped conv) in float32 or at batch 1, on the activations (x*s, conv, x*demod + noise)
        in half above batch 1; fp16 safety pre-scaling of W and s; bias, lrelu, gain and clamp
        each rounded to x.dtype.  Slow: for reproducing that code's renders, not for shows."""
        dtype, n = x.dtype, x.shape[0]
        weight = self.weight.float()
        s = self.affine(w)
        if dtype == torch.float16:
            weight = weight * (1.0 / math.sqrt(weight[0].numel()) /
                               weight.abs().amax(dim=[1, 2, 3], keepdim=True))
            s = s / s.abs().amax(dim=1, keepdim=True)
        wmod = weight.unsqueeze(0) * s[:, None, :, None, None]  # (N, O, I, k, k)
        demod = (wmod.square().sum(dim=[2, 3, 4]) + 1e-8).rsqrt()  # (N, O)
        noise = self._noise(x, noise_mode)
        if dtype == torch.float32 or n == 1:
            wmod = (wmod * demod[:, :, None, None, None]).reshape(-1, *weight.shape[1:])
            x = self._conv(x.reshape(1, -1, *x.shape[2:]), wmod.to(dtype), groups=n)
            x = x.reshape(n, -1, *x.shape[2:])
            if noise is not None:
                x = x.add_(noise)  # float32 noise into x's dtype
        else:
            x = self._conv(x * s.to(dtype)[:, :, None, None], weight.to(dtype), groups=1)
            d = demod.to(dtype)[:, :, None, None]
            x = torch.addcmul(noise.to(dtype), x, d) if noise is not None else x * d
        x = F.leaky_relu(x + self.bias.to(dtype)[None, :, None, None], 0.2)
        x = x * (self.act_gain * gain)
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp * gain, self.conv_clamp * gain)
        return x

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise_mode: str = "const", gain: float = 1.0,
                channels_last: bool = False) -> torch.Tensor:
        dtype = x.dtype
        run_w, wsq = self._run_weights(dtype, channels_last)
        s = self.affine(w)  # (N, I), fp32
        if dtype == torch.float16:
            s = s / s.abs().amax(dim=1, keepdim=True).clamp_min(1e-8)
        demod = (s.square() @ wsq.t() + 1e-8).rsqrt()  # (N, O)
        x = x * s.to(dtype)[:, :, None, None]
        if self.up > 1:
            x = F.conv_transpose2d(x, run_w, stride=self.up)
            k = self.weight.shape[-1]
            fw = self.resample_filter.shape[-1]
            p0 = self.padding + (fw + self.up - 1) // 2 - (k - 1)
            p1 = self.padding + (fw - self.up) // 2 - (k - self.up)
            x = upfirdn2d(x, self.resample_filter, padding=(p0, p1, p0, p1), gain=self.up ** 2)
        else:
            x = F.conv2d(x, run_w, padding=self.padding)
        demod = demod.to(dtype)[:, :, None, None]
        noise = self._noise(x, noise_mode)
        if noise is not None:
            noise = noise.to(dtype)
        # x * demod + noise in one pass, then bias, lrelu, gain and clamp in place
        x = torch.addcmul(noise, x, demod) if noise is not None else x * demod
        x.add_(self.bias.to(dtype)[None, :, None, None])
        F.leaky_relu(x, 0.2, inplace=True)
        x.mul_(self.act_gain * gain)
        if self.conv_clamp is not None:
            clamp = self.conv_clamp * gain
            x.clamp_(-clamp, clamp)
        return x


class ToRGB(nn.Module):
    """1x1 modulated conv without demodulation; styles x 1/sqrt(fan_in); + bias; clamp."""

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, *, kernel_size: int = 1,
                 conv_clamp: float | None = None) -> None:
        super().__init__()
        self.conv_clamp = conv_clamp
        self.affine = FullyConnected(w_dim, in_channels, bias_init=1.0)
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size),
                                   requires_grad=False)
        self.bias = nn.Parameter(torch.zeros(out_channels), requires_grad=False)
        self.weight_gain = 1.0 / math.sqrt(in_channels * kernel_size * kernel_size)

    def forward(self, x: torch.Tensor, w: torch.Tensor, reference: bool = False) -> torch.Tensor:
        dtype, n = x.dtype, x.shape[0]
        s = self.affine(w) * self.weight_gain
        pad = self.weight.shape[-1] // 2
        if reference and (dtype == torch.float32 or n == 1):  # see ModulatedConv.forward_reference
            wmod = (self.weight.unsqueeze(0) * s[:, None, :, None, None]).reshape(-1, *self.weight.shape[1:])
            x = F.conv2d(x.reshape(1, -1, *x.shape[2:]), wmod.to(dtype), padding=pad, groups=n)
            x = x.reshape(n, -1, *x.shape[2:])
        else:
            x = x * s.to(dtype)[:, :, None, None]
            x = F.conv2d(x, self.weight.to(dtype), padding=pad)
        x = x + self.bias.to(dtype)[None, :, None, None]
        if self.conv_clamp is not None:
            x = x.clamp(-self.conv_clamp, self.conv_clamp)
        return x


class SkipUp(nn.Module):
    """The resnet shortcut: 1x1 conv (no bias), FIR upsample 2x."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, 1, 1), requires_grad=False)
        self.weight_gain = 1.0 / math.sqrt(in_channels)
        self.register_buffer("resample_filter", _blur_filter())

    def forward(self, x: torch.Tensor, gain: float, reference: bool = False) -> torch.Tensor:
        if reference:  # the original order: upsample, 1x1 conv, then the gain
            x = upsample2d(x, self.resample_filter)
            return F.conv2d(x, (self.weight * self.weight_gain).to(x.dtype)) * gain
        x = F.conv2d(x, (self.weight * (self.weight_gain * gain)).to(x.dtype))
        return upsample2d(x, self.resample_filter)


class SynthesisBlock(nn.Module):
    def __init__(self, in_channels: int, out_channels: int, w_dim: int, resolution: int,
                 img_channels: int, *, is_last: bool, architecture: str = "skip",
                 conv_clamp: float | None = None, use_fp16: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels = in_channels, out_channels
        self.resolution, self.is_last, self.architecture = resolution, is_last, architecture
        self.use_fp16 = use_fp16
        if in_channels == 0:
            self.const = nn.Parameter(torch.randn(out_channels, resolution, resolution), requires_grad=False)
        else:
            self.conv0 = ModulatedConv(in_channels, out_channels, w_dim, resolution, up=2,
                                       conv_clamp=conv_clamp)
        self.conv1 = ModulatedConv(out_channels, out_channels, w_dim, resolution, conv_clamp=conv_clamp)
        self.num_conv = 1 if in_channels == 0 else 2
        self.num_torgb = 1 if (is_last or architecture == "skip") else 0
        if self.num_torgb:
            self.torgb = ToRGB(out_channels, img_channels, w_dim, conv_clamp=conv_clamp)
        if in_channels != 0 and architecture == "resnet":
            self.skip = SkipUp(in_channels, out_channels)
        self.register_buffer("resample_filter", _blur_filter())

    def forward(self, x, img, ws: torch.Tensor, noise_mode: str, dtype: torch.dtype,
                channels_last: bool, reference: bool = False):
        if reference:
            return self._forward_reference(x, img, ws, noise_mode, dtype)
        fmt = torch.channels_last if channels_last else torch.contiguous_format
        w = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).expand(ws.shape[0], -1, -1, -1)
            x = x.contiguous(memory_format=fmt)
            x = self.conv1(x, next(w), noise_mode, channels_last=channels_last)
        else:
            x = x.to(dtype=dtype, memory_format=fmt)
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5))
                x = self.conv0(x, next(w), noise_mode, channels_last=channels_last)
                x = self.conv1(x, next(w), noise_mode, gain=math.sqrt(0.5), channels_last=channels_last)
                x = y + x
            else:
                x = self.conv0(x, next(w), noise_mode, channels_last=channels_last)
                x = self.conv1(x, next(w), noise_mode, channels_last=channels_last)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w)).float()
            img = y if img is None else img + y
        return x, img

    def _forward_reference(self, x, img, ws: torch.Tensor, noise_mode: str, dtype: torch.dtype):
        """`forward` with every layer in its `forward_reference` form (precision="reference")."""
        w = iter(ws.unbind(dim=1))
        if self.in_channels == 0:
            x = self.const.to(dtype).unsqueeze(0).repeat(ws.shape[0], 1, 1, 1)
            x = self.conv1.forward_reference(x, next(w), noise_mode)
        else:
            x = x.to(dtype)
            if self.architecture == "resnet":
                y = self.skip(x, gain=math.sqrt(0.5), reference=True)
                x = self.conv0.forward_reference(x, next(w), noise_mode)
                x = y + self.conv1.forward_reference(x, next(w), noise_mode, gain=math.sqrt(0.5))
            else:
                x = self.conv0.forward_reference(x, next(w), noise_mode)
                x = self.conv1.forward_reference(x, next(w), noise_mode)
        if img is not None:
            img = upsample2d(img, self.resample_filter)
        if self.num_torgb:
            y = self.torgb(x, next(w), reference=True).float()
            img = y if img is None else img + y
        return x, img


class SynthesisNetwork(SynthesisRuntime):
    """ws (N, num_ws, w_dim) -> image (N, C, H, W) float32: the blocks b4 .. b{resolution}."""

    def __init__(self, cfg: "StyleGAN2Config") -> None:
        super().__init__()
        self.num_ws, self.w_dim = cfg.num_ws, cfg.w_dim
        self.block_resolutions = cfg.block_resolutions
        prev = 0
        for r, ch in zip(cfg.block_resolutions, cfg.channels):
            block = SynthesisBlock(prev, ch, cfg.w_dim, r, cfg.img_channels,
                                   is_last=(r == cfg.resolution), architecture=cfg.architecture,
                                   conv_clamp=cfg.conv_clamp, use_fp16=r in cfg.fp16_resolutions)
            self.add_module(f"b{r}", block)
            prev = ch
        self.reference = False  # set_precision(..., reference=True)

    def forward(self, ws: torch.Tensor, noise_mode: str = "const",
                transform: torch.Tensor | None = None) -> torch.Tensor:
        graph = self.graph_for(ws, noise_mode, transform)
        img = graph(ws) if graph is not None else self.run(ws, noise_mode)
        if transform is not None:
            img = warp_image(img, transform)
        return img

    def _synthesize(self, ws: torch.Tensor, noise_mode: str) -> torch.Tensor:
        ws = ws.float()
        x = img = None
        idx = 0
        for r in self.block_resolutions:
            block = getattr(self, f"b{r}")
            dtype = self.run_dtype if block.use_fp16 else torch.float32
            x, img = block(x, img, ws[:, idx: idx + block.num_conv + block.num_torgb], noise_mode,
                           dtype, self.channels_last, self.reference)
            idx += block.num_conv
        return img.float().contiguous()


@dataclass(frozen=True)
class StyleGAN2Config:
    """A StyleGAN2 generator's size; `channels[i]` belongs to block resolution 4 * 2**i."""

    z_dim: int = 512
    c_dim: int = 0
    w_dim: int = 512
    resolution: int = 1024
    img_channels: int = 3
    architecture: str = "skip"
    channels: tuple[int, ...] = ()
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    embed_features: int | None = None
    layer_features: int | None = None
    conv_clamp: float | None = 256.0
    fp16_resolutions: tuple[int, ...] = field(default=())

    @staticmethod
    def standard(resolution: int = 1024, *, channel_base: int = 32768, channel_max: int = 512,
                 num_fp16_res: int = 4, **kwargs) -> "StyleGAN2Config":
        """Channels C(r) = min(channel_base // r, channel_max); config-f is the default."""
        log2 = int(math.log2(resolution))
        if 2 ** log2 != resolution or resolution < 4:
            raise ValueError(f"resolution must be a power of two >= 4, got {resolution}")
        res = [2 ** i for i in range(2, log2 + 1)]
        lo = max(2 ** (log2 + 1 - num_fp16_res), 8)
        return StyleGAN2Config(resolution=resolution,
                               channels=tuple(min(channel_base // r, channel_max) for r in res),
                               fp16_resolutions=tuple(r for r in res if r >= lo and num_fp16_res > 0),
                               **kwargs)

    @property
    def block_resolutions(self) -> list[int]:
        return [4 * 2 ** i for i in range(len(self.channels))]

    @property
    def num_ws(self) -> int:
        return 2 * int(math.log2(self.resolution)) - 2


class StyleGAN2Generator(nn.Module):
    """A StyleGAN2 generator; implements the `Generator` protocol (see base.py).

    `mapping` and `synthesis` are submodules (their names match the pickles' tensor names) whose
    forward methods have the protocol's signatures.
    """

    batched_transform = True  # synthesis takes one transform per picture, (N, 3, 3)

    kind = "stylegan2"
    source_code: str | None = None  # the NVlabs module a pickle came from (set by from_persistent)

    @property
    def kind_label(self) -> str:
        """What `inspect` calls it: stylegan2-skip, stylegan2-resnet or stylegan2-orig."""
        return f"stylegan2-{self.config.architecture}"

    def __init__(self, config: StyleGAN2Config) -> None:
        super().__init__()
        cfg = self.config = config
        if len(cfg.channels) != int(math.log2(cfg.resolution)) - 1:
            raise ValueError("StyleGAN2Config.channels needs one entry per block (4 .. resolution)")
        self.z_dim, self.c_dim, self.w_dim = cfg.z_dim, cfg.c_dim, cfg.w_dim
        self.resolution, self.img_channels = cfg.resolution, cfg.img_channels
        self.num_ws = cfg.num_ws
        self.mapping = MappingNetwork(cfg.z_dim, cfg.c_dim, cfg.w_dim, self.num_ws, cfg.mapping_layers,
                                      cfg.embed_features, cfg.layer_features, cfg.mapping_lr_mul)
        self.synthesis = SynthesisNetwork(cfg)
        self.requires_grad_(False)
        self.eval()

    @property
    def w_avg(self) -> torch.Tensor:
        return self.mapping.w_avg

    def forward(self, z, c=None, truncation_psi: float = 1.0, noise_mode: str = "const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)

    # ---- speed ----------------------------------------------------------------------------------
    def set_precision(self, dtype: torch.dtype = torch.float16, *, allow_cpu: bool = False,
                      reference: bool = False) -> None:
        """Run the `use_fp16` blocks in `dtype` (fp16 where the network was trained in it).  Half
        falls back to fp32 off CUDA unless allow_cpu (tests); channels_last on CUDA.

        reference=True computes every layer in the order and precision of the original
        StyleGAN2-ADA code (`ModulatedConv.forward_reference`), in `dtype` on any device: that
        code runs its fp16 blocks in half even on the CPU, so its CPU renders differ from any
        float32 forward pass by fp16 rounding.  Slow; for reproducing such renders only."""
        set_precision(self, dtype, allow_cpu, reference)

    def accelerate(self, mode: str = "graphs", batch: int = 1) -> None:
        """'eager' (default), 'graphs' (CUDA-graph replay of synthesis at this batch size, const
        noise; no-op off CUDA) or 'compile' (torch.compile of the synthesis)."""
        accelerate(self, mode, batch)

    # ---- loading --------------------------------------------------------------------------------
    @classmethod
    def from_persistent(cls, G: PersistentObject, source: str = "model") -> "StyleGAN2Generator":
        syn, mapping = G.find("synthesis"), G.find("mapping")
        if syn is None or mapping is None:
            raise ModelError(f"{source}: not a StyleGAN generator (no synthesis/mapping networks)")
        sd = G.tensors()
        block_res = [int(r) for r in syn.attr("block_resolutions", [])]
        if not block_res:
            raise ModelError(f"{source}: StyleGAN2 synthesis without block_resolutions")
        channels = []
        for r in block_res:
            key = f"synthesis.b{r}.conv1.weight"
            if key not in sd:
                raise ModelError(f"{source}: missing {key}")
            channels.append(int(sd[key].shape[0]))
        b_last = syn.find(f"b{block_res[-1]}")
        arch = str(b_last.attr("architecture", "skip"))
        fc0 = sd["mapping.fc0.weight"]
        num_layers = len([k for k in mapping.children if k.startswith("fc")])
        c_dim = int(G.attr("c_dim", 0) or 0)
        embed_features = int(sd["mapping.embed.weight"].shape[0]) if c_dim else None
        lr_mul = _float(mapping.find("fc0").attr("bias_gain"), 0.01)
        layer_features = int(fc0.shape[0]) if num_layers > 1 else None
        clamp_layer = syn.find(f"b{block_res[0]}.conv1")
        conv_clamp = _float(clamp_layer.attr("conv_clamp"), None) if clamp_layer else None
        fp16 = tuple(r for r in block_res if bool(syn.find(f"b{r}").attr("use_fp16", False)))
        cfg = StyleGAN2Config(
            z_dim=int(G.attr("z_dim")), c_dim=c_dim, w_dim=int(G.attr("w_dim")),
            resolution=int(G.attr("img_resolution")), img_channels=int(G.attr("img_channels")),
            architecture=arch, channels=tuple(channels), mapping_layers=num_layers,
            mapping_lr_mul=lr_mul, embed_features=embed_features, layer_features=layer_features,
            conv_clamp=conv_clamp, fp16_resolutions=fp16)
        net = cls(cfg)
        load_weights(net, sd, source)
        copy_attributes(net, G)
        # StyleGAN2-ADA's `training.networks` vs the StyleGAN3 repository's `networks_stylegan2`:
        # only the latter's blocks carry `fused_modconv_default` (and it runs fp32 off CUDA)
        first = syn.find(f"b{block_res[0]}")
        net.source_code = ("training.networks_stylegan2" if "fused_modconv_default" in first.state
                           else "training.networks")
        return net


def warp_image(img: torch.Tensor, transform: torch.Tensor) -> torch.Tensor:
    """Apply the user's 3x3 rotate/translate matrix ((3, 3), or (N, 3, 3): one per picture) to a
    finished picture (a network without an input layer to steer).  Units: the picture's height
    spans 1, as in StyleGAN3."""
    n, _, h, w = img.shape
    m = user_matrices(transform, n).to(dtype=torch.float32, device=img.device)
    inv = torch.linalg.inv(m)  # (1 or N, 3, 3)
    aspect = w / h
    # grid_sample coordinates are [-1, 1] over each axis; ours span [-aspect/2, aspect/2] x [-1/2, 1/2]
    to_unit = torch.diag(torch.tensor([aspect / 2, 0.5, 1.0], device=img.device))
    from_unit = torch.diag(torch.tensor([2 / aspect, 2.0, 1.0], device=img.device))
    theta = (from_unit @ inv @ to_unit)[:, :2].expand(n, -1, -1)
    grid = F.affine_grid(theta.to(img.dtype), list(img.shape), align_corners=False)
    return F.grid_sample(img, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def load_weights(net: nn.Module, sd: dict[str, torch.Tensor], source: str) -> None:
    """Load a pickled state dict into our modules; any mismatch is a one-line ModelError."""
    own = net.state_dict()
    missing = [k for k in own if k not in sd]
    unexpected = [k for k in sd if k not in own]
    if missing or unexpected:
        what = (f"missing {missing[:3]}" if missing else "") + (" " if missing and unexpected else "") + \
               (f"unexpected {unexpected[:3]}" if unexpected else "")
        raise ModelError(f"{source}: the network's tensors do not match its layout ({what})")
    for k, t in sd.items():
        if tuple(own[k].shape) != tuple(t.shape):
            raise ModelError(f"{source}: tensor {k} has shape {tuple(t.shape)}, expected {tuple(own[k].shape)}")
        if not torch.isfinite(t.float()).all():
            raise ModelError(f"{source}: tensor {k} holds NaN or infinite values")
    net.load_state_dict({k: t.float() for k, t in sd.items()}, strict=True)


_ATTRS = ("weight_gain", "bias_gain", "act_gain", "conv_clamp")


def copy_attributes(net: nn.Module, po: PersistentObject) -> None:
    """The pickled per-module constants (gains, clamps) are the exact configuration: use them."""
    for name, module in net.named_modules():
        src = po.find(name) if name else po
        if src is None:
            continue
        for attr in _ATTRS:
            if attr in src.state and hasattr(module, attr) and not isinstance(getattr(module, attr), torch.Tensor):
                value = src.state[attr]
                setattr(module, attr, None if value is None else float(np.asarray(value)))
