"""The built-in CPPN generator: the shared contract, plus what a performer relies on: smooth motion,
varied colourful pictures, any resolution, determinism and a working transform."""

from __future__ import annotations

import math

import pytest
import torch

from latentperform.models import BuiltinGenerator, Generator
from tests.models.contract import GeneratorContract


class TestBuiltinContract(GeneratorContract):
    def make_generator(self):
        return BuiltinGenerator(resolution=64)


@pytest.fixture(scope="module")
def G():
    return BuiltinGenerator(resolution=64, seed=0)


def _z(G, seed, n=1):
    return torch.randn(n, G.z_dim, generator=torch.Generator().manual_seed(seed))


def _mad(a, b):
    return (a - b).abs().mean().item()


@torch.no_grad()
def test_is_a_generator_with_several_style_layers(G):
    assert isinstance(G, Generator)
    assert G.c_dim == 0 and G.img_channels == 3
    assert G.num_ws > 2, "layer-wise style mixing needs several style layers"


@pytest.fixture(scope="module", params=[0, 1, 2], ids=lambda seed: f"seed{seed}")
def any_G(request):
    """Several networks: what holds for the default one must hold for any seed."""
    return BuiltinGenerator(resolution=64, seed=request.param)


@torch.no_grad()
def test_small_latent_step_small_change(any_G):
    G = any_G
    z = _z(G, 1)
    d = _z(G, 2)
    d = d / d.norm() * math.sqrt(G.z_dim)  # a step of the size of a typical latent
    img = G(z)
    diffs = [_mad(G(z + eps * d), img) for eps in (1e-4, 1e-3, 1e-2, 1e-1, 0.5)]
    assert diffs[0] < 1e-3, f"a tiny step changed the picture by {diffs[0]:.4f}"
    assert diffs[1] < 1e-2
    assert 3 < diffs[1] / diffs[0] < 30, f"small changes should scale with the step: {diffs}"
    for small, large in zip(diffs, diffs[1:]):
        assert small < large, f"change should grow with the step: {diffs}"
    assert diffs[-1] > 0.05, "a large step should change the picture clearly"


@torch.no_grad()
def test_walk_in_w_is_smooth(any_G):
    """Consecutive frames of a slow walk differ little, and never jump."""
    G = any_G
    ws_a, ws_b = G.mapping(_z(G, 3)), G.mapping(_z(G, 4))
    frames = [G.synthesis(ws_a.lerp(ws_b, t)) for t in torch.linspace(0, 1, 41).tolist()]
    steps = sorted(_mad(a, b) for a, b in zip(frames, frames[1:]))
    assert steps[-1] < 0.2, f"a 1/40 step changed the picture by {steps[-1]:.3f}"
    assert steps[-1] < 2.5 * steps[len(steps) // 2], f"the walk jumps: {steps}"
    assert _mad(frames[0], frames[-1]) > 0.1


@torch.no_grad()
def test_pictures_are_varied_colourful_and_structured(any_G):
    G = any_G
    imgs = G.synthesis(G.mapping(_z(G, 10, n=8)), size=(128, 128))  # (8, 3, H, W)
    for i in range(8):
        for j in range(i):
            assert _mad(imgs[i], imgs[j]) > 0.1, f"latents {i} and {j} look alike"
    rgb = (imgs + 1) / 2
    saturation = (rgb.amax(1) - rgb.amin(1)).mean((1, 2))  # per image
    assert (saturation > 0.1).all(), f"grey pictures: {saturation}"
    contrast = imgs.std((2, 3)).mean(1)
    assert (contrast > 0.1).all(), f"flat pictures: {contrast}"
    brightness = rgb.mean((1, 2, 3))
    assert (brightness > 0.15).all() and 0.3 < brightness.mean() < 0.7, f"murky or washed out: {brightness}"
    # structure, not noise: neighbouring pixels are far more alike than random pairs of pixels
    neighbour = (imgs[..., 1:] - imgs[..., :-1]).abs().mean((1, 2, 3))
    shuffled = imgs.flatten(2)[..., torch.randperm(128 * 128, generator=torch.Generator().manual_seed(0))]
    random_pair = (imgs.flatten(2) - shuffled).abs().mean((1, 2))
    assert (neighbour < 0.5 * random_pair).all(), (neighbour, random_pair)  # noise would be about 1.0


@torch.no_grad()
def test_every_style_layer_matters(any_G):
    G = any_G
    ws = G.mapping(_z(G, 5))
    other = G.mapping(_z(G, 6))
    base = G.synthesis(ws)
    for layer in range(G.num_ws):
        mixed = ws.clone()
        mixed[:, layer] = other[:, layer]
        assert _mad(G.synthesis(mixed), base) > 0.01, f"style layer {layer} has no effect"


@torch.no_grad()
def test_any_resolution_same_picture(G):
    ws = G.mapping(_z(G, 7))
    wide = G.synthesis(ws, size=(48, 80))
    assert wide.shape == (1, 3, 48, 80)
    small = G.synthesis(ws, size=(128, 128))
    big = G.synthesis(ws, size=(256, 256))
    assert _mad(torch.nn.functional.avg_pool2d(big, 2), small) < 0.03, "resolution changed the picture"
    G2 = BuiltinGenerator(resolution=64, seed=0)
    G2.resolution = 96
    assert G2.synthesis(ws).shape == (1, 3, 96, 96)
    one = G.synthesis(ws, size=(1, 1))
    assert one.shape == (1, 3, 1, 1) and torch.isfinite(one).all()


@torch.no_grad()
def test_deterministic_from_seed():
    a, b, c = BuiltinGenerator(resolution=32, seed=3), BuiltinGenerator(resolution=32, seed=3), \
        BuiltinGenerator(resolution=32, seed=4)
    z = _z(a, 0)
    torch.testing.assert_close(a(z), b(z), rtol=0, atol=0)
    torch.testing.assert_close(a.w_avg, b.w_avg, rtol=0, atol=0)
    assert _mad(a(z), c(z)) > 0.05, "another seed should draw another network"


@torch.no_grad()
def test_transform_translates_and_rotates_the_picture(G):
    ws = G.mapping(_z(G, 8))
    img = G.synthesis(ws)
    torch.testing.assert_close(G.synthesis(ws, transform=torch.eye(3)), img)
    # coordinates: the picture's height is 1.0, so 1/64 is one pixel at 64x64
    shift = torch.eye(3)
    shift[0, 2] = 5 / 64
    moved = G.synthesis(ws, transform=shift)
    # the matrix is the picture's motion: 5 px to the right (the outermost pixel rows and columns
    # differ: the contour lines' gradient is one-sided there)
    torch.testing.assert_close(moved[..., 1:-1, 6:-1], img[..., 1:-1, 1:-6], atol=1e-4, rtol=0)
    # a quarter turn of the motion is a quarter turn of the square picture
    quarter = torch.tensor([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    turned = G.synthesis(ws, transform=quarter)
    inner = (..., slice(1, -1), slice(1, -1))
    assert min(_mad(turned[inner], img.rot90(k, (2, 3))[inner]) for k in (1, 3)) < 1e-4
    with pytest.raises(ValueError):
        G.synthesis(ws, transform=torch.eye(2))


@torch.no_grad()
def test_bad_shapes_are_refused(G):
    with pytest.raises(ValueError, match="z must have shape"):
        G.mapping(torch.zeros(1, G.z_dim + 1))
    with pytest.raises(ValueError, match="ws must have shape"):
        G.synthesis(torch.zeros(1, G.num_ws, G.w_dim + 1))


@torch.no_grad()
def test_half_precision_runs_on_a_tiny_picture():
    G = BuiltinGenerator(resolution=8, seed=0).half()
    ws = G.mapping(torch.zeros(1, G.z_dim).normal_(generator=torch.Generator().manual_seed(0)).half())
    img = G.synthesis(ws)
    assert img.dtype == torch.float16 and img.shape == (1, 3, 8, 8) and torch.isfinite(img).all()


@torch.no_grad()
def test_big_pictures_go_through_in_bands_with_the_same_result(G, monkeypatch):
    import latentperform.models.builtin as builtin

    ws = G.mapping(_z(G, 9, n=2))
    whole = G.synthesis(ws, size=(40, 56))
    monkeypatch.setattr(builtin, "_BAND_PIXELS", 700)  # 4 bands of 350 pixels a picture, and a rest
    banded = G.synthesis(ws, size=(40, 56))
    torch.testing.assert_close(banded, whole, atol=1e-5, rtol=0)


@torch.no_grad()
def test_builtin_spec_gives_shape_and_seed():
    from latentperform.models.loader import load_generator
    wide = load_generator("builtin:80x45,seed=3")
    assert (wide.resolution, wide.width, wide.seed) == (45, 80, 3)
    z = _z(wide, 1)
    assert wide(z).shape == (1, 3, 45, 80)
    square = load_generator("builtin:40")
    assert (square.resolution, square.width, square.seed) == (40, None, 0)
    assert square(_z(square, 1)).shape == (1, 3, 40, 40)
    # a wide picture is the square one with more of the plane on each side, not a stretched one
    a = BuiltinGenerator(resolution=40, seed=3)(z)
    b = BuiltinGenerator(resolution=40, width=72, seed=3)(z)
    # (the outermost pixels differ: the contour lines' gradient is one-sided at the edge)
    torch.testing.assert_close(b[..., 1:-1, 17:55], a[..., 1:-1, 1:-1], atol=2e-3, rtol=0)
