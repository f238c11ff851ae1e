"""The built-in generator: a style-modulated CPPN that needs no weights file.

A compositional pattern-producing network maps every pixel's coordinates to a colour.  Its
weights come from a seed (the same seed draws the same network on every machine), and a
StyleGAN-like mapping network turns a latent z into per-layer styles ws that scale the columns of
each layer's weight matrix.  Hence:

  - any latent draws a picture: the input features are smooth periodic functions of position,
    the hidden layers are sin/tanh, and a cosine palette picked by the last style colours it;
  - the picture moves smoothly with the latent: every style enters through a smooth function
    (affine -> scale -> demodulate -> sin/tanh), so a small step in W is a small step in pixels;
  - the picture has no native size: it is a function of continuous coordinates, so it renders at
    any resolution, and `transform` (a 3x3 rotate/translate, StyleGAN3 convention) moves the
    sampling grid;
  - layers mean something: ws[0] bends the input waves (zoom, structure), the middle layers the
    shapes, the last one the palette and contour lines, so mixing styles by layer behaves as
    with StyleGAN;
  - every seed draws a usable network: at construction each layer's gain is calibrated on a
    fixed sample of latents, so no seed comes out murky, flat or noisy.

Cost is a few (C x C) matmuls and sin/tanh over the pixel grid: cheap enough for 30 frames/s at
256x256 on a 2-core CPU (see bench/generator_cpu.py).
"""

from __future__ import annotations

import math
import re

import torch
from torch import nn

from .base import ModelError, truncate
from .device import apply_precision

# Coordinates: the picture's height spans [-0.5, 0.5] (its width is scaled by the aspect ratio),
# the same units as StyleGAN3's input grid, so a translate of 1.0 moves the picture by its height.
_TWO_PI = 2.0 * math.pi


def _tanh(x: torch.Tensor) -> torch.Tensor:
    """tanh as 2 sigmoid(2x) - 1: the same function, several times faster on CPU."""
    return torch.sigmoid(2.0 * x).mul_(2.0).sub_(1.0)


def _tanh_(x: torch.Tensor) -> torch.Tensor:
    """In-place `_tanh` (x is overwritten)."""
    return x.mul_(2.0).sigmoid_().mul_(2.0).sub_(1.0)


# The spread (std) of pre-activations the calibration sets: sin layers (more bands with more
# spread), tanh layers (more contrast); and of the output fields (palette index, shade).
_LAYER_SPREAD = (1.4, 1.2)
_OUT_SPREAD = torch.tensor([0.9, 1.0])
# Pixels per band through the CPPN (see synthesis): about 17 MB of activations a band.
_BAND_PIXELS = 1 << 18
# n-fold rotational symmetries offered to the first layer: the styles pick how much of each
_POLAR_FOLDS = (3, 5, 6)


class FeatureTap(nn.Module):
    """Where a hidden layer's activations can be bent (models.bend): an identity on feature maps.

    The CPPN works per pixel, (N, P, C); only while a hook sits on the tap are its activations
    shown to it as feature maps (N, C, H, W), and the picture is then drawn in one piece rather
    than in bands (spatial bends need the neighbours)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def bend(self, h: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
        n, p, c = h.shape
        x = self(h.transpose(1, 2).reshape(n, c, *shape))
        return x.reshape(n, c, p).transpose(1, 2)


class BuiltinGenerator(nn.Module):
    """A deterministic latent -> image network drawn from `seed`; implements `Generator`.

    resolution   default output height in pixels (an attribute: change it freely); `synthesis`
                 also takes size=(height, width) for any other shape
    width        default output width (None: square); the picture is a function of continuous
                 coordinates, so a 16:9 show renders 16:9 instead of a square with bars
    seed         which network: the weights are drawn from it
    z_dim, w_dim latent sizes
    channels     hidden width of the CPPN (cost grows as channels**2 per pixel)
    depth        hidden layers; num_ws = depth + 2 (input waves, hidden layers, palette)
    frequencies  Fourier features of position fed to the first layer
    """

    batched_transform = True  # synthesis takes one transform per picture, (N, 3, 3)
    kind = "builtin"
    semantic_w = False  # W has no learned meaning: no PCA directions (latent/directions.py)

    def __init__(self, resolution: int = 256, seed: int = 0, z_dim: int = 64, w_dim: int = 64,
                 device: str | torch.device = "cpu", *, width: int | None = None, channels: int = 16,
                 depth: int = 4, frequencies: int = 8) -> None:
        super().__init__()
        if resolution < 1 or (width is not None and width < 1):
            raise ValueError(f"resolution and width must be positive, got {resolution}, {width}")
        self.width = None if width is None else int(width)
        self.z_dim = int(z_dim)
        self.c_dim = 0
        self.w_dim = int(w_dim)
        self.resolution = int(resolution)
        self.img_channels = 3
        self.seed = int(seed)
        self.channels = int(channels)
        self.depth = int(depth)
        self.frequencies = int(frequencies)
        self.num_ws = self.depth + 2

        g = torch.Generator().manual_seed(self.seed)

        def randn(*shape: int) -> torch.Tensor:
            return torch.randn(*shape, generator=g)

        # Mapping network: 4 layers, leaky ReLU, He-scaled so w comes out at about unit scale.
        mapping_layers = 4
        dims = [self.z_dim] + [self.w_dim] * mapping_layers
        for i in range(mapping_layers):
            gain = math.sqrt(2.0) if i < mapping_layers - 1 else 1.0
            self.register_buffer(f"map_w{i}", randn(dims[i + 1], dims[i]) * (gain / math.sqrt(dims[i])))
            self.register_buffer(f"map_b{i}", randn(dims[i + 1]) * 0.1)

        # Layer 0, the input waves: K directions with log-spread frequencies; the style sets each
        # wave's phase and stretches its frequency.
        k = self.frequencies
        angles = torch.rand(k, generator=g) * math.pi
        radii = torch.exp(torch.linspace(math.log(0.5), math.log(2.5), k)) * math.pi
        self.register_buffer("wave_dirs", torch.stack([angles.cos(), angles.sin()], 1) * radii[:, None])  # (K, 2)
        self.register_buffer("wave_phase_a", randn(k, self.w_dim) / math.sqrt(self.w_dim))
        self.register_buffer("wave_scale_a", randn(k, self.w_dim) * (0.08 / math.sqrt(self.w_dim)))
        self.register_buffer("wave_warp_a", randn(2, self.w_dim) * (0.6 / math.sqrt(self.w_dim)))
        self.register_buffer("zoom_a", randn(self.w_dim) * (0.25 / math.sqrt(self.w_dim)))

        # ... and n-fold symmetric features around a centre, each faded in or out by the style.
        self.register_buffer("polar_phase_a", randn(len(_POLAR_FOLDS), self.w_dim) / math.sqrt(self.w_dim))
        self.register_buffer("polar_amp_a", randn(len(_POLAR_FOLDS), self.w_dim) / math.sqrt(self.w_dim))
        self.register_buffer("polar_centre_a", randn(2, self.w_dim) / math.sqrt(self.w_dim))

        # Hidden layers: weight (C_out, C_in), style affine w -> per-input-column scale, and a
        # style-dependent bias (shifts where the sin/tanh bands fall).
        in_dim = 3 + 2 * k + len(_POLAR_FOLDS)
        for i in range(self.depth):
            self.register_buffer(f"syn_w{i}", randn(self.channels, in_dim))
            self.register_buffer(f"syn_sa{i}", randn(in_dim, self.w_dim) * (0.3 / math.sqrt(self.w_dim)))
            self.register_buffer(f"syn_ba{i}", randn(self.channels, self.w_dim) * (0.25 / math.sqrt(self.w_dim)))
            self.register_buffer(f"syn_b{i}", randn(self.channels) * 0.5)
            in_dim = self.channels
        for i in range(self.depth):  # bend points: "layer0" .. (see FeatureTap)
            self.add_module(f"layer{i}", FeatureTap())
        self._tap_shape: tuple[int, int] | None = None
        # set by _calibrate: each layer's gain, and the output fields' centre and gain
        self.register_buffer("layer_gain", torch.ones(self.depth))
        self.register_buffer("out_mean", torch.zeros(2))
        self.register_buffer("out_gain", torch.ones(2))

        # Output: two fields (palette index t, shade s), then a cosine palette picked by the last style.
        self.register_buffer("out_w", randn(2, self.channels))
        self.register_buffer("line_a", randn(3, self.w_dim) / math.sqrt(self.w_dim))
        self.register_buffer("out_sa", randn(self.channels, self.w_dim) * (0.25 / math.sqrt(self.w_dim)))
        self.register_buffer("pal_a", randn(12, self.w_dim) / math.sqrt(self.w_dim))
        self.register_buffer("pal_hue", torch.rand(1, generator=g))
        self.register_buffer("hue_spread", torch.tensor([0.0, 1.0, 2.0]))

        # w_avg: the mean of W over many latents, estimated once from a fixed sample.
        # The last mapping layer is rescaled so w has unit spread per element around w_avg:
        # every style gain below is then in units of "one typical latent".
        zs = torch.randn(8192, self.z_dim, generator=g)
        self.register_buffer("w_avg", torch.zeros(self.w_dim))
        spread = self._map(zs).std(0).mean()
        last = mapping_layers - 1
        setattr(self, f"map_w{last}", getattr(self, f"map_w{last}") / spread)
        setattr(self, f"map_b{last}", getattr(self, f"map_b{last}") / spread)
        self.w_avg = self._map(zs).mean(0)
        self._calibrate(g)
        self.to(device)

    # ------------------------------------------------------------------------------- mapping
    def _map(self, z: torch.Tensor) -> torch.Tensor:
        """z (N, z_dim) -> w (N, w_dim)."""
        x = z * torch.rsqrt(z.square().mean(1, keepdim=True) + 1e-8)
        for i in range(4):
            x = torch.addmm(getattr(self, f"map_b{i}"), x, getattr(self, f"map_w{i}").t())
            if i < 3:
                x = torch.nn.functional.leaky_relu(x, 0.2)
        return x

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        """z (N, z_dim) -> ws (N, num_ws, w_dim); c is ignored (unconditional)."""
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        w = self._map(z.to(self.w_avg.device, self.w_avg.dtype))
        ws = w[:, None, :].expand(-1, self.num_ws, -1)  # (N, num_ws, w_dim)
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff).contiguous()

    # ----------------------------------------------------------------------------- synthesis
    def _grid(self, n: int, height: int, width: int, transform: torch.Tensor | None,
              device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """Pixel-centre coordinates (N, H*W, 2), height spanning [-0.5, 0.5], moved by transform."""
        ys = (torch.arange(height, device=device, dtype=dtype) + 0.5) / height - 0.5
        xs = ((torch.arange(width, device=device, dtype=dtype) + 0.5) / width - 0.5) * (width / height)
        grid = torch.stack(torch.meshgrid(xs, ys, indexing="xy"), -1).reshape(1, -1, 2)
        if transform is None:
            return grid.expand(n, -1, -1)
        m = torch.as_tensor(transform, device=device, dtype=dtype)
        if m.shape[-2:] != (3, 3):
            raise ValueError(f"transform must be (3, 3) or (N, 3, 3), got {tuple(m.shape)}")
        # the matrix is the motion of the picture; each output pixel samples where the inverse
        # motion takes it
        m = torch.linalg.inv(m.reshape(-1, 3, 3).to(torch.float32)).to(dtype).expand(n, -1, -1)
        return grid @ m[:, :2, :2].transpose(1, 2) + m[:, None, :2, 2]

    def _field(self, ws: torch.Tensor, p: torch.Tensor, probe: int | None = None) -> torch.Tensor:
        """The CPPN: coordinates p (N, P, 2) -> fields (N, P, 2): palette index t and shade.

        probe=i returns layer i's pre-activation before its calibrated gain (i == depth: the raw
        output fields), for `_calibrate`.
        """
        dtype, device = p.dtype, p.device
        # Layer 0: input waves, bent by ws[0] (zoom, phase, frequency stretch, a gentle domain warp).
        w0 = ws[:, 0]
        p = p * torch.exp(w0 @ self.zoom_a)[:, None, None]  # some latents zoom in, some out
        warp = torch.tanh(w0 @ self.wave_warp_a.t())  # (N, 2)
        px, py = p[..., 0], p[..., 1]
        p = torch.stack([px + 0.35 * warp[:, None, 0] * torch.sin(2.0 * py),
                         py + 0.35 * warp[:, None, 1] * torch.sin(2.0 * px)], -1)
        dirs = self.wave_dirs[None] * torch.exp(w0 @ self.wave_scale_a.t())[..., None]  # (N, K, 2)
        phase = (w0 @ self.wave_phase_a.t()) * (0.35 * math.pi)  # (N, K)
        # one sin gives both sin and cos: the second half of the waves is a quarter turn ahead
        phase = torch.cat([phase, phase + 0.5 * math.pi], 1)  # (N, 2K)
        waves = torch.baddbmm(phase[:, None, :], p, torch.cat([dirs, dirs], 1).transpose(1, 2)).sin_()
        r = p.norm(dim=-1, keepdim=True)
        pc = p - 0.6 * torch.tanh(w0 @ self.polar_centre_a.t())[:, None, :]  # symmetry centre moves
        theta = torch.atan2(pc[..., 1:], pc[..., :1])  # (N, P, 1)
        folds = torch.tensor(_POLAR_FOLDS, device=device, dtype=dtype)
        polar_phase = (w0 @ self.polar_phase_a.t()) * math.pi  # (N, F)
        polar_amp = torch.sigmoid(3.0 * (w0 @ self.polar_amp_a.t()) - 2.0)  # (N, F), mostly faint
        polar = torch.cos(theta * folds + polar_phase[:, None, :])
        polar = polar * (_tanh(2.0 * pc.norm(dim=-1, keepdim=True)) * polar_amp[:, None, :])
        # The first layer's input is [p, r, sin waves, cos waves, polar]; it is multiplied in two
        # parts rather than concatenated (saves a copy of the widest tensor).
        k2 = 2 * self.frequencies
        shape_feats = torch.cat([p, r - 0.7, polar], -1)  # (N, P, 3 + F)
        wave_cols = slice(3, 3 + k2)
        shape_cols = [0, 1, 2] + list(range(3 + k2, 3 + k2 + len(_POLAR_FOLDS)))

        # Hidden layers: modulate the weight's input columns by the style, demodulate, activate.
        h = waves
        for i in range(self.depth):
            wl = ws[:, 1 + i]
            weight = getattr(self, f"syn_w{i}")[None] * (1.0 + wl @ getattr(self, f"syn_sa{i}").t())[:, None, :]
            weight = weight * torch.rsqrt(weight.square().sum(2, keepdim=True) + 1e-8)  # (N, C_out, C_in)
            bias = getattr(self, f"syn_b{i}") + wl @ getattr(self, f"syn_ba{i}").t()  # (N, C_out)
            gain = 1.0 if probe == i else self.layer_gain[i]
            weight = (weight.transpose(1, 2) * gain).contiguous()  # (N, C_in, C_out)
            bias = bias[:, None, :] * gain
            if i == 0:
                h = torch.baddbmm(bias, waves, weight[:, wave_cols].contiguous())
                h.baddbmm_(shape_feats, weight[:, shape_cols].contiguous())
            else:
                h = torch.baddbmm(bias, h, weight)
            if probe == i:
                return h
            h = h.sin_() if i % 2 == 0 else _tanh_(h)
            tap = getattr(self, f"layer{i}")
            if tap._forward_hooks and self._tap_shape is not None:
                h = tap.bend(h, self._tap_shape)

        # Output: two fields, through a style-modulated, demodulated projection.
        wl = ws[:, -1]
        weight = self.out_w[None] * (1.0 + wl @ self.out_sa.t())[:, None, :]
        weight = weight * torch.rsqrt(weight.square().sum(2, keepdim=True) + 1e-8)  # (N, 2, C)
        ts = torch.bmm(h, weight.transpose(1, 2))  # (N, P, 2)
        if probe == self.depth:
            return ts
        return ts.sub_(self.out_mean).mul_(self.out_gain)

    @torch.no_grad()
    def _calibrate(self, g: torch.Generator) -> None:
        """Set each layer's gain so its pre-activation has the same spread in every network (a
        seed draws weights whose products vary; without this some seeds draw murky, flat or
        noisy networks).  Measured once, on a fixed sample of latents at 32x32."""
        ws = self.mapping(torch.randn(32, self.z_dim, generator=g))
        p = self._grid(32, 32, 32, None, self.w_avg.device, self.w_avg.dtype) * 2.0
        for i in range(self.depth):
            spread = self._field(ws, p, probe=i).std()
            self.layer_gain[i] = _LAYER_SPREAD[i % 2] / spread
        ts = self._field(ws, p, probe=self.depth)
        self.out_mean.copy_(ts.mean((0, 1)))
        self.out_gain.copy_(_OUT_SPREAD / ts.std((0, 1)))

    def _colour(self, wl: torch.Tensor, ts: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """Fields (N, P, 2) and the last style wl (N, w_dim) -> RGB (N, P, 3) in about [0, 1]."""
        n = ts.shape[0]
        t, shade = ts[..., :1], _tanh(ts[..., 1:])
        # A cosine palette a + b cos(2 pi (c t + d)) per channel, chosen by the style.
        q = wl @ self.pal_a.t()  # (N, 12), about unit normal
        hue = 0.4 * q[:, 0:1] + self.pal_hue  # turns all the way round across latents
        spread = 0.08 + 0.22 * torch.sigmoid(1.5 * q[:, 1:2] - 0.5)  # narrow: deep tones; wide: rainbow
        phase_c = hue + spread * self.hue_spread
        freq_c = 0.4 + 0.15 * torch.tanh(q[:, 2:5])
        bias_c = 0.6 + 0.06 * torch.tanh(q[:, 5:8]) + 0.1 * torch.tanh(q[:, 8:9])  # tint, light or dark
        amp_c = 0.42 + 0.05 * torch.tanh(q[:, 9:12])
        rgb = bias_c[:, None] + amp_c[:, None] * torch.cos(_TWO_PI * (freq_c[:, None] * t + phase_c[:, None]))
        # Contour lines along the palette field, drawn with an even width in picture units (the
        # distance to the nearest level is estimated from the field's gradient), never thinner than
        # a pixel, so they neither alias at low resolution nor flicker as the picture moves.
        line = torch.sigmoid(wl @ self.line_a.t() * 2.0)  # (N, 3)
        density = (1.0 + 2.0 * line[:, 0])[:, None, None]
        strength = (0.9 * line[:, 1])[:, None, None]
        width_img = torch.clamp(0.003 + 0.006 * line[:, 2], min=0.75 / height)[:, None, None]
        level = t.reshape(n, 1, height, width)
        padded = torch.nn.functional.pad(level, (1, 1, 1, 1), mode="replicate")
        gx = padded[:, :, 1:-1, 2:] - padded[:, :, 1:-1, :-2]
        gy = padded[:, :, 2:, 1:-1] - padded[:, :, :-2, 1:-1]
        grad = torch.sqrt(gx.square() + gy.square()).reshape(n, -1, 1) * (0.5 * height)  # per picture height
        dist = torch.sin(math.pi * density * t).abs() / (math.pi * density * grad + 1e-6)
        contour = torch.exp(-(dist / width_img).square())
        return rgb * (0.82 + 0.18 * shade) * (1.0 - strength * contour)

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const", transform: torch.Tensor | None = None,
                  size: tuple[int, int] | None = None) -> torch.Tensor:
        """ws (N, num_ws, w_dim) -> images (N, 3, H, W) in [-1, 1].

        noise_mode is accepted for the protocol; this network has no noise inputs.
        transform (3, 3) or (N, 3, 3): the motion applied to the picture (the protocol's
        convention, StyleGAN3's transform_user: models.stylegan3.rotate_translate).
        size=(height, width) overrides `resolution` x `width` for this call.
        """
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        if size is None:
            height, width = self.resolution, self.width or self.resolution
        else:
            height, width = int(size[0]), int(size[1])
        if height < 1 or width < 1:
            raise ValueError(f"size must be positive, got {(height, width)}")
        dtype, device = self.w_avg.dtype, self.w_avg.device
        ws = ws.to(device, dtype)
        n = ws.shape[0]
        p = self._grid(n, height, width, transform, device, dtype) * 2.0  # (N, P, 2)
        # The CPPN is per pixel: big pictures go through it in bands, so memory stays bounded
        # (its hidden activations are `channels` floats a pixel); only the 2 fields are kept.
        band = max(1, _BAND_PIXELS // n)
        self._tap_shape = (height, width)
        if p.shape[1] <= band or self._bent():
            fields = self._field(ws, p)
        else:
            fields = torch.cat([self._field(ws, part) for part in p.split(band, dim=1)], 1)
        rgb = self._colour(ws[:, -1], fields, height, width)  # (N, P, 3)
        img = rgb.mul_(2.0).sub_(1.0).clamp_(-1.0, 1.0)
        return img.transpose(1, 2).reshape(n, 3, height, width)

    def _bent(self) -> bool:
        return any(getattr(self, f"layer{i}")._forward_hooks for i in range(self.depth))

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode=noise_mode)

    def extra_repr(self) -> str:
        return (f"seed={self.seed}, resolution={self.resolution}, width={self.width}, z_dim={self.z_dim}, w_dim={self.w_dim}, "
                f"channels={self.channels}, depth={self.depth}, num_ws={self.num_ws}")


# -- the "builtin" generator kind (registered in latentperform/kinds.py) ----------------------

_SPEC = re.compile(r"^builtin(?::(?:(\d+)x)?(\d+))?(?:,seed=(\d+))?$")


def parse_spec(spec: str) -> tuple[int, int | None, int] | None:
    """"builtin:<size>" or "builtin:<width>x<height>", each with an optional ",seed=<n>" ->
    (height, width or None for square, seed); plain "builtin" -> None (the hints decide)."""
    m = _SPEC.match(spec)
    if m is None:
        raise ModelError(f'expected "builtin", "builtin:<size>" or "builtin:<width>x<height>" '
                         f'(optionally ",seed=<n>"), got {spec!r}')
    width, height, seed = m.groups()
    if height is None:
        return None if seed is None else (256, None, int(seed))
    return int(height), None if width is None else int(width), int(seed or 0)


def load(spec: str, placement, hints) -> BuiltinGenerator:
    """The built-in network.  It has no native shape: plain "builtin" renders about
    hints.resolution² pixels (what it costs), shaped like hints.output_size (no bars), with
    hints.seed as its weights; a spec with a size or seed says so itself.  Not cached: it is
    cheap to build and its resolution is a mutable attribute."""
    shape = parse_spec(spec)
    if shape is None:
        side = int(hints.resolution or 256)
        height, width = side, None
        out = hints.output_size
        if out is not None and out[0] > 0 and out[1] > 0 and out[0] != out[1]:
            aspect = out[0] / out[1]
            width = max(1, int(round(side * aspect ** 0.5)))
            height = max(1, int(round(side / aspect ** 0.5)))
        shape = (height, width, int(hints.seed or 0))
    height, width, seed = shape
    G = BuiltinGenerator(resolution=height, width=width, seed=seed, device=placement.device)
    apply_precision(G, placement)  # fp16 on CUDA: the whole module in half
    return G.eval()
