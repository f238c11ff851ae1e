"""Networks trained on the user's own pictures (`latentperform train`): a small VAE whose decoder
is a StyleGAN-like generator, and the file that holds it.

    decoder  z -> mapping MLP -> w (N, w_dim) -> ws (N, num_ws, w_dim)
             ws -> a learned 4x4 constant, then per resolution: upsample x2, two 3x3 convs each
             restyled by its own w (instance norm, then a per-channel scale and bias from an
             affine of w: AdaIN), leaky ReLU; a 1x1 to RGB styled by the last w; tanh
    encoder  picture -> strided convs -> (mu, log variance) of z: places any picture in the
             network's latent space (`encode`), which a GAN cannot do

Why a VAE and not a GAN: on a CPU and a few hundred pictures, a GAN needs far more steps to stop
collapsing and gives no way back from a picture to its latent; a VAE trains stably in minutes,
its reconstructions measure its quality, and its encoder finds any picture's place.  The price
is softer pictures.  Because the decoder takes per-layer styles, everything the engine does with
W (directions, style mixing, truncation, the atlas, bending) works on it as on StyleGAN.

The file is a plain `torch.save` of tensors, numbers and strings only, read back with
`weights_only=True`: loading it never runs code.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .base import ModelError, truncate

FORMAT = "latentperform-trained"
VERSION = 1


@dataclass(frozen=True)
class TrainedConfig:
    resolution: int = 64
    z_dim: int = 64
    w_dim: int = 128
    base_channels: int = 128     # channels at 4x4 and 8x8; halved at each doubling after that
    min_channels: int = 32
    mapping_layers: int = 2
    img_channels: int = 3

    def __post_init__(self) -> None:
        r = int(self.resolution)
        if r < 8 or r & (r - 1):
            raise ModelError(f"resolution must be a power of two >= 8, got {r}")

    @property
    def resolutions(self) -> list[int]:
        """The block resolutions after the 4x4 constant: 8, 16, ..., resolution."""
        return [2 ** i for i in range(3, int(math.log2(self.resolution)) + 1)]

    def channels_at(self, res: int) -> int:
        halvings = max(0, int(math.log2(res)) - 3)
        return max(self.min_channels, self.base_channels >> halvings)

    @property
    def num_ws(self) -> int:
        return 1 + 2 * len(self.resolutions) + 1  # the constant's conv, two per block, to-RGB


class StyledConv(nn.Module):
    """3x3 conv -> instance norm -> AdaIN from w -> leaky ReLU."""

    def __init__(self, cin: int, cout: int, w_dim: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, padding=1)
        self.style = nn.Linear(w_dim, 2 * cout)
        nn.init.zeros_(self.style.weight)
        with torch.no_grad():
            self.style.bias.zero_()
            self.style.bias[:cout] = 1.0  # scale 1, bias 0 at the start

    def forward(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        x = F.instance_norm(self.conv(x))
        scale, bias = self.style(w).chunk(2, dim=1)
        return F.leaky_relu(x * scale[..., None, None] + bias[..., None, None], 0.2)


class Decoder(nn.Module):
    """The generator half: implements the Generator protocol (see models.base)."""

    batched_transform = True

    def __init__(self, cfg: TrainedConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.z_dim, self.w_dim, self.c_dim = cfg.z_dim, cfg.w_dim, 0
        self.num_ws, self.resolution, self.img_channels = cfg.num_ws, cfg.resolution, cfg.img_channels
        layers, dim = [], cfg.z_dim
        for _ in range(cfg.mapping_layers):
            layers += [nn.Linear(dim, cfg.w_dim), nn.LeakyReLU(0.2)]
            dim = cfg.w_dim
        self.mapper = nn.Sequential(*layers[:-1])  # the last layer is linear
        c4 = cfg.channels_at(4)
        self.const = nn.Parameter(torch.randn(1, c4, 4, 4) * 0.5)
        self.b4 = StyledConv(c4, c4, cfg.w_dim)
        prev = c4
        for res in cfg.resolutions:
            ch = cfg.channels_at(res)
            self.add_module(f"b{res}", nn.ModuleDict({"conv0": StyledConv(prev, ch, cfg.w_dim),
                                                       "conv1": StyledConv(ch, ch, cfg.w_dim)}))
            prev = ch
        self.torgb = nn.Conv2d(prev, cfg.img_channels, 1)
        self.rgb_style = nn.Linear(cfg.w_dim, prev)
        nn.init.zeros_(self.rgb_style.weight)
        nn.init.ones_(self.rgb_style.bias)
        self.register_buffer("w_avg", torch.zeros(cfg.w_dim))

    def mapping(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                truncation_cutoff: int | None = None) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.z_dim:
            raise ValueError(f"z must have shape (N, {self.z_dim}), got {tuple(z.shape)}")
        w = self.mapper(z.to(self.w_avg.device, self.w_avg.dtype))
        ws = w[:, None, :].expand(-1, self.num_ws, -1)
        return truncate(ws, self.w_avg, truncation_psi, truncation_cutoff).contiguous()

    def synthesis(self, ws: torch.Tensor, noise_mode: str = "const",
                  transform: torch.Tensor | None = None) -> torch.Tensor:
        if ws.ndim != 3 or ws.shape[1:] != (self.num_ws, self.w_dim):
            raise ValueError(f"ws must have shape (N, {self.num_ws}, {self.w_dim}), got {tuple(ws.shape)}")
        ws = ws.to(self.w_avg.device, self.w_avg.dtype)
        w = iter(ws.unbind(1))
        x = self.b4(self.const.expand(ws.shape[0], -1, -1, -1), next(w))
        for res in self.cfg.resolutions:
            block = getattr(self, f"b{res}")
            x = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
            x = block["conv1"](block["conv0"](x, next(w)), next(w))
        img = torch.tanh(self.torgb(x * self.rgb_style(next(w))[..., None, None]))
        if transform is not None:
            from .stylegan2 import warp_image
            img = warp_image(img, transform)
        return img

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None, truncation_psi: float = 1.0,
                noise_mode: str = "const") -> torch.Tensor:
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode=noise_mode)


class Encoder(nn.Module):
    """Picture (N, C, R, R) in [-1, 1] -> (mu, logvar) of z, each (N, z_dim)."""

    def __init__(self, cfg: TrainedConfig) -> None:
        super().__init__()
        layers, prev, res = [], cfg.img_channels, cfg.resolution
        while res > 4:
            ch = cfg.channels_at(res // 2)
            layers += [nn.Conv2d(prev, ch, 4, stride=2, padding=1), nn.LeakyReLU(0.2)]
            prev, res = ch, res // 2
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(prev * 16, 2 * cfg.z_dim)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.head(self.body(img).flatten(1)).chunk(2, dim=1)
        return mu, logvar.clamp(-10.0, 6.0)


class TrainedGenerator(Decoder):
    """A trained decoder with its encoder: `encode(images) -> z`, as loaded from a file."""

    kind = "trained-vae"

    def __init__(self, cfg: TrainedConfig, encoder: Encoder | None = None) -> None:
        super().__init__(cfg)
        self.encoder = encoder
        self.info: dict = {}

    def describe_training(self) -> str:
        """One line for `inspect`: what it was trained on and how well it learned."""
        i = self.info
        if not i:
            return ""
        return (f"{int(i.get('pictures', 0))} pictures, {int(i.get('steps', 0))} steps; held-out error "
                f"{i.get('recon_ratio', float('nan')):.2f} of the mean picture's, precision "
                f"{i.get('precision', float('nan')):.2f}, recall {i.get('recall', float('nan')):.2f}")

    @torch.no_grad()
    def encode(self, images: torch.Tensor) -> torch.Tensor:
        """Pictures (N, C, H, W) in [-1, 1], any size -> z (N, z_dim): the encoder's mean."""
        if self.encoder is None:
            raise ModelError("this trained network was saved without its encoder")
        r = self.resolution
        x = images.to(self.w_avg.device, self.w_avg.dtype)
        if x.shape[-2:] != (r, r):
            x = F.interpolate(x, size=(r, r), mode="area")
        return self.encoder(x)[0]


def save_trained(path: str | Path, decoder: Decoder, encoder: Encoder | None, info: dict | None = None) -> None:
    """Write the network (write-then-rename: a crash never leaves half a file)."""
    path = Path(path)
    blob = {"format": FORMAT, "version": VERSION, "config": asdict(decoder.cfg),
            "decoder": {k: v.detach().cpu() for k, v in decoder.state_dict().items()},
            "encoder": None if encoder is None else {k: v.detach().cpu() for k, v in encoder.state_dict().items()},
            "info": dict(info or {})}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(blob, tmp)
    tmp.replace(path)


def read_trained(path: str | Path) -> dict | None:
    """The file's contents when it is a trained network, else None (another kind of .pt).
    Raises ModelError for a damaged file of this kind."""
    try:
        blob = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception:
        return None  # not a plain tensor archive (TorchScript, a pickle with code, junk)
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        return None
    if int(blob.get("version", 0)) > VERSION:
        raise ModelError(f"{Path(path).name}: made by a newer latentperform (format {blob['version']})")
    return blob


def load_trained(path: str | Path, device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, blob: dict | None = None) -> TrainedGenerator:
    blob = read_trained(path) if blob is None else blob
    if blob is None:
        raise ModelError(f"{Path(path).name}: not a network trained by latentperform")
    try:
        cfg = TrainedConfig(**blob["config"])
        encoder = None
        if blob.get("encoder") is not None:
            encoder = Encoder(cfg)
            encoder.load_state_dict(blob["encoder"])
        G = TrainedGenerator(cfg, encoder)
        G.load_state_dict(blob["decoder"], strict=False)
    except (KeyError, TypeError, RuntimeError, ValueError) as e:
        raise ModelError(f"{Path(path).name}: damaged trained network ({str(e).splitlines()[0]})") from None
    G.info = dict(blob.get("info") or {})
    G.eval().requires_grad_(False)
    # float32: half precision only pays on CUDA, where these small convs gain little
    return G.to(device=device, dtype=dtype if torch.device(device).type == "cuda" else torch.float32)


# -- the "trained" generator kind (registered in latentperform/kinds.py) -----------------------

def claims(path) -> bool:
    """A `.pt` is this kind when it is a tensor archive `latentperform train` wrote (else the
    TorchScript kind, registered after it, reads it)."""
    return read_trained(path) is not None


def load(spec: str, placement, hints) -> "TrainedGenerator":
    """A network `latentperform train` made, on placement.device (half on CUDA for fp16)."""
    if placement.reference:
        raise ModelError(f"{Path(spec).name}: precision \"reference\" is for StyleGAN pickles")
    return load_trained(spec, placement.device, placement.dtype)
