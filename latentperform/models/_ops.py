"""Filtered resampling and activations for the StyleGAN networks, in plain torch ops.

Written from the definitions in ../shared/specs/stylegan-pickles.md section 4, not from any
existing implementation.  Every op here is built from convolutions that cuDNN has fast kernels
for: zero-insertion upsampling is a depthwise transposed convolution (stride = factor), so no
multiply ever touches an inserted zero; downsampling is a depthwise convolution with a stride,
so only the kept samples are computed.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

SQRT2 = math.sqrt(2.0)


def _depthwise(f: torch.Tensor, channels: int, dtype: torch.dtype) -> torch.Tensor:
    return f.to(dtype)[None, None].expand(channels, 1, *f.shape).contiguous()


def upfirdn2d(x: torch.Tensor, f: torch.Tensor, up: int = 1, down: int = 1,
              padding: tuple[int, int, int, int] = (0, 0, 0, 0), gain: float = 1.0,
              flip_filter: bool = False) -> torch.Tensor:
    """Zero-insert upsample by `up`, pad (x0, x1, y0, y1; negative crops), convolve with `f`
    (a true convolution unless flip_filter), keep every `down`-th sample.

    f is 1-D (run along x then y, each pass x gain**0.5) or 2-D (x gain).  x is (N, C, H, W).
    """
    if f.ndim not in (1, 2):
        raise ValueError(f"filter must be 1-D or 2-D, got shape {tuple(f.shape)}")
    c = x.shape[1]
    px0, px1, py0, py1 = (int(p) for p in padding)
    # convolution flips the filter; torch's conv is a correlation, so flip here (unless asked not)
    if not flip_filter:
        f = f.flip(list(range(f.ndim)))
    if f.ndim == 1:
        g = gain ** 0.5
        fx = (f * g).reshape(1, -1)
        fy = (f * g).reshape(-1, 1)
        x = _pass(x, fx, c, up, down, px0, px1, axis=3)
        return _pass(x, fy, c, up, down, py0, py1, axis=2)
    if up == 1:
        x = F.pad(x, [px0, px1, py0, py1])
        return F.conv2d(x, _depthwise(f * gain, c, x.dtype), stride=down, groups=c)
    # 2-D filter with upsampling (not used by the StyleGAN layers, kept general): zero-insert
    n, _, h, w = x.shape
    z = x.new_zeros(n, c, h * up, w * up)
    z[:, :, ::up, ::up] = x
    z = F.pad(z, [px0, px1, py0, py1])
    return F.conv2d(z, _depthwise(f * gain, c, x.dtype), stride=down, groups=c)


def _pass(x: torch.Tensor, f2: torch.Tensor, c: int, up: int, down: int, p0: int, p1: int,
          axis: int) -> torch.Tensor:
    """One separable pass of upfirdn2d along `axis` (3 = x, 2 = y); f2 is the (already flipped,
    gain-scaled) filter shaped (1, K) or (K, 1)."""
    k = f2.numel()
    if up > 1:
        # Transposed conv (stride up) with the unflipped filter = full convolution of the
        # zero-inserted signal; output index i of the padded-then-valid convolution is the
        # transposed output at i + K - 1 - p0.
        w = _depthwise(f2.flip([0, 1]), c, x.dtype)
        stride = (1, up) if axis == 3 else (up, 1)
        x = F.conv_transpose2d(x, w, stride=stride, groups=c)
        lo, hi = p0 - (k - 1), p1 + up - k
        pad = [lo, hi, 0, 0] if axis == 3 else [0, 0, lo, hi]
        x = F.pad(x, pad)
        if down > 1:
            x = x[:, :, :, ::down] if axis == 3 else x[:, :, ::down, :]
        return x
    pad = [p0, p1, 0, 0] if axis == 3 else [0, 0, p0, p1]
    x = F.pad(x, pad)
    stride = (1, down) if axis == 3 else (down, 1)
    return F.conv2d(x, _depthwise(f2, c, x.dtype), stride=stride, groups=c)


def upsample2d(x: torch.Tensor, f: torch.Tensor, up: int = 2) -> torch.Tensor:
    """Upsample by `up` through filter f: output exactly (H*up, W*up)."""
    fw = f.shape[-1]
    p0, p1 = (fw + up - 1) // 2, (fw - up) // 2
    return upfirdn2d(x, f, up=up, padding=(p0, p1, p0, p1), gain=up * up)


def filtered_lrelu(x: torch.Tensor, fu: torch.Tensor | None, fd: torch.Tensor | None,
                   bias: torch.Tensor | None, up: int, down: int,
                   padding: tuple[int, int, int, int], gain: float, slope: float,
                   clamp: float | None) -> torch.Tensor:
    """+ bias -> upfirdn2d(up, padding, gain up**2) -> lrelu x gain, clamp -> upfirdn2d(down)."""
    if bias is not None:
        x = x + bias.to(x.dtype).reshape(1, -1, 1, 1)
    if fu is not None or up > 1 or any(padding):
        if fu is None:
            fu = torch.ones(1, dtype=x.dtype, device=x.device)
        x = upfirdn2d(x, fu, up=up, padding=padding, gain=float(up * up))
    elif bias is None:
        x = x.clone()  # the in-place ops below must not touch the caller's tensor
    # x is a fresh tensor here: activation, gain and clamp in place
    if slope != 1.0:
        F.leaky_relu(x, slope, inplace=True)
    if gain != 1.0:
        x.mul_(gain)
    if clamp is not None:
        x.clamp_(-clamp, clamp)
    if fd is not None and (fd.numel() > 1 or down > 1):
        x = upfirdn2d(x, fd, down=down)
    elif down > 1:
        x = x[:, :, ::down, ::down]
    return x


def conv_transpose2d_portable_half(x: torch.Tensor, w: torch.Tensor, stride: int = 2,
                                   groups: int = 1) -> torch.Tensor:
    """A transposed convolution (no padding) rounded the way torch's portable CPU kernel rounds
    it in float16: every tap's products summed in float32 over the input channels and rounded to
    half, then the overlapping taps added into the output one tap at a time in half, in (ky, kx)
    order.  Used only to reproduce renders of the original StyleGAN2-ADA code on the CPU
    (`precision="reference"`); CUDA and oneDNN kernels round once, like F.conv_transpose2d.

    x (N, G*I, H, W), w (G*I, O, k, k) as for F.conv_transpose2d.
    """
    n, gi, h, wd = x.shape
    o, k = w.shape[1], w.shape[-1]
    i = gi // groups
    xs = x.float().reshape(n, groups, i, h, wd)
    ws = w.float().reshape(groups, i, o, k, k)
    taps = torch.einsum("ngihw,giokl->ngoklhw", xs, ws).to(x.dtype)  # (N, G, O, k, k, H, W)
    out = x.new_zeros(n, groups, o, (h - 1) * stride + k, (wd - 1) * stride + k)
    for ky in range(k):
        for kx in range(k):
            out[:, :, :, ky:ky + stride * h:stride, kx:kx + stride * wd:stride] += taps[:, :, :, ky, kx]
    return out.reshape(n, groups * o, out.shape[-2], out.shape[-1])
