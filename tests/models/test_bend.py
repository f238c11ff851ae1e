"""Network bending: every registered op passes the shared checks, the exact ops equal their numpy
counterparts, and a Bender on a real network bends exactly the layer and channels it names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latentperform.models import ModelError, load_generator
from latentperform.models.bend import OPS, Bender, BendSpec, bend_layers
from latentperform.models.bend.clusters import channel_clusters, spherical_kmeans
from latentperform.models.bend.layers import capture, probe_ws

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/stylegan"


def feature_maps(n=2, c=8, h=12, w=12, seed=0):
    return torch.randn(n, c, h, w, generator=torch.Generator().manual_seed(seed))


def away_from_neutral(op):
    """Settings a step away from neutral, inside the range."""
    values = {}
    for s in op.settings:
        span = s.max - s.min
        values[s.name] = min(s.neutral + 0.37 * span, s.max) if s.neutral < s.max else s.neutral - 0.37 * span
    return values


@pytest.mark.parametrize("name", sorted(OPS))
class TestEveryOp:
    def test_neutral_is_the_identity(self, name):
        op = OPS[name]()
        x = feature_maps()
        assert op.is_neutral(op.defaults())
        assert torch.equal(op.apply(x, op.defaults(), None, feature_maps(seed=1)), x)

    def test_away_from_neutral_it_bends_and_keeps_the_shape(self, name):
        op = OPS[name]()
        x = feature_maps()
        values = away_from_neutral(op)
        assert not op.is_neutral(values)
        y = op.apply(x, values, None, feature_maps(seed=1), torch.Generator().manual_seed(3))
        assert y.shape == x.shape and torch.isfinite(y).all()
        assert not torch.allclose(y, x), f"{name} at {values} changed nothing"
        assert torch.equal(x, feature_maps()), "the input was modified in place"

    def test_channels_outside_the_selection_are_untouched(self, name):
        op = OPS[name]()
        x = feature_maps()
        sel = torch.tensor([1, 4, 6])
        y = op.apply(x, away_from_neutral(op), sel, torch.tensor([0, 2, 3]), torch.Generator().manual_seed(3))
        rest = [i for i in range(x.shape[1]) if i not in sel.tolist()]
        assert torch.equal(y[:, rest], x[:, rest])

    def test_bad_values_are_clamped_not_propagated(self, name):
        op = OPS[name]()
        x = feature_maps()
        wild = {s.name: v for s in op.settings for v in [float("nan")]}
        assert torch.equal(op.apply(x, wild, None), x)  # NaN counts as neutral
        huge = {s.name: 1e30 for s in op.settings}
        y = op.apply(x, huge, None, feature_maps(seed=1), torch.Generator().manual_seed(0))
        assert torch.isfinite(y).all()


def test_quarter_turns_and_mirror_are_exact():
    x = feature_maps(h=10, w=10)
    for k in (1, 2, 3):
        y = OPS["rotate"]().apply(x, {"angle": 90.0 * k}, None)
        assert np.array_equal(y.numpy(), np.rot90(x.numpy(), k, axes=(2, 3)))
    y = OPS["mirror"]().apply(x, {"amount": 1.0}, None)
    assert np.array_equal(y.numpy(), x.numpy()[..., ::-1])


def test_a_quarter_turn_of_a_wide_map_keeps_its_shape():
    x = feature_maps(h=8, w=12)
    assert OPS["rotate"]().apply(x, {"angle": 90.0}, None).shape == x.shape


def test_translate_by_whole_pixels_is_a_shift_with_edges_repeated():
    x = feature_maps(h=8, w=16)
    y = OPS["translate"]().apply(x, {"x": 0.25, "y": 0.0}, None).numpy()  # 4 pixels right
    cols = np.clip(np.arange(16) - 4, 0, 15)
    np.testing.assert_allclose(y, x.numpy()[..., cols], atol=1e-5)


def test_zoom_two_enlarges_about_the_centre():
    x = torch.zeros(1, 1, 16, 16)
    x[..., 6:10, 6:10] = 1.0
    y = OPS["zoom"]().apply(x, {"factor": 2.0}, None)
    assert 50 <= float((y > 0.5).sum()) <= 80  # a 4x4 square became about 8x8
    assert float(y[..., 8, 8]) == pytest.approx(1.0)


def test_dilate_and_erode_are_max_and_min_filters():
    x = feature_maps(n=1, c=2, h=9, w=9).numpy()
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=-np.inf)
    win = np.stack([pad[..., i:i + 9, j:j + 9] for i in range(3) for j in range(3)])
    np.testing.assert_allclose(OPS["dilate"]().apply(torch.from_numpy(x), {"radius": 1.0}, None).numpy(),
                               win.max(0), atol=1e-6)
    pad = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=np.inf)
    win = np.stack([pad[..., i:i + 9, j:j + 9] for i in range(3) for j in range(3)])
    np.testing.assert_allclose(OPS["erode"]().apply(torch.from_numpy(x), {"radius": 1.0}, None).numpy(),
                               win.min(0), atol=1e-6)


def test_scale_ablate_shuffle_swap_do_what_they_say():
    x = feature_maps()
    assert torch.equal(OPS["scale"]().apply(x, {"gain": 0.0}, None), torch.zeros_like(x))
    y = OPS["ablate"]().apply(x, {"amount": 1.0}, None)
    assert torch.allclose(y, x.mean((-2, -1), keepdim=True).expand_as(x))
    y = OPS["shuffle"]().apply(x, {"amount": 1.0, "seed": 5.0}, None)
    moved = [int(np.argmax([torch.equal(y[:, i], x[:, j]) for j in range(8)])) for i in range(8)]
    assert sorted(moved) == list(range(8)) and all(i != j for i, j in enumerate(moved))
    sel, partner = torch.tensor([0, 1]), torch.tensor([5, 6])
    y = OPS["swap"]().apply(x, {"amount": 1.0}, sel, partner)
    assert torch.equal(y[:, [0, 1]], x[:, [5, 6]])


def test_noise_repeats_for_the_same_frame_and_differs_between_frames():
    G = load_generator("builtin:48x48,seed=2")
    ws = probe_ws(G)
    b = Bender(G, [BendSpec("layer1", "noise", values={"amount": 1.0})])
    b.update(None, seq=7)
    a1 = G.synthesis(ws)
    b.update(None, seq=7)
    a2 = G.synthesis(ws)
    b.update(None, seq=8)
    a3 = G.synthesis(ws)
    b.close()
    assert torch.equal(a1, a2) and not torch.equal(a1, a3)


def test_spherical_kmeans_finds_known_channel_groups():
    rng = np.random.default_rng(0)
    patterns = rng.normal(size=(3, 200))
    truth = np.repeat([0, 1, 2], [7, 5, 4])
    v = patterns[truth] + 0.3 * rng.normal(size=(16, 200))
    labels = spherical_kmeans(v, 3)
    # the same partition (labels are ordered by size: 7, 5, 4 members)
    assert np.array_equal(labels, truth)


@pytest.mark.parametrize("model,layer", [("builtin:64x64,seed=3", "layer1"),
                                         (str(FIXTURES / "sg2ada-skip-64.pkl"), "b16.conv1"),
                                         (str(FIXTURES / "sg3-t-64.pkl"), "L2_36_64")])
def test_a_bent_layer_is_exactly_the_op_applied_to_its_feature_maps(model, layer):
    G = load_generator(model)
    names = [info.name for info in bend_layers(G)]
    assert layer in names
    ws = probe_ws(G)
    plain = G.synthesis(ws)
    before = capture(G, [layer], ws, size=64)[layer]
    if "sg3" in model:  # StyleGAN3 is slow on a CPU: explicit channels instead of clustering
        labels = (np.arange(before.shape[1]) % 3 == 1).astype(int)
        b = Bender(G, [BendSpec(layer, "rotate", channels=tuple(np.flatnonzero(labels == 1).tolist()))])
    else:
        labels = channel_clusters(G, layer, 3)
        assert len(labels) == before.shape[1] and set(labels.tolist()) == {0, 1, 2}
        b = Bender(G, [BendSpec(layer, "rotate", cluster=1, clusters=3)])
    assert not b.active  # neutral: no hook on the network
    assert torch.equal(G.synthesis(ws), plain)
    b.update([{"angle": 180.0}])
    assert b.active
    after = capture(G, [layer], ws, size=64)[layer]  # sees the bent maps (hooks run in order)
    ch = np.flatnonzero(labels == 1)
    want = before.clone()
    want[:, ch] = torch.rot90(before[:, ch], 2, dims=(-2, -1))
    assert torch.allclose(after, want, atol=1e-6)
    assert not torch.allclose(G.synthesis(ws), plain)
    b.update([{"angle": 0.0}])
    assert not b.active and torch.equal(G.synthesis(ws), plain)
    b.close()


def test_bad_bends_are_one_clear_error():
    G = load_generator("builtin:32x32,seed=0")
    with pytest.raises(ModelError, match='no layer "layr1".*did you mean "layer1"'):
        Bender(G, [BendSpec("layr1", "rotate")])
    with pytest.raises(ModelError, match='unknown op "rotat".*did you mean "rotate"'):
        Bender(G, [BendSpec("layer1", "rotat")])
    with pytest.raises(ModelError, match="cluster 9"):
        Bender(G, [BendSpec("layer1", "scale", cluster=9, clusters=4)])

