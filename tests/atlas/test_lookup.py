"""latent.maplookup: map position -> W, continuous everywhere and fast enough for a tick."""

import numpy as np
import pytest

from latentperform.latent.maplookup import MapLookup, wendland


def _cloud(n=600, w_dim=16, seed=0):
    rng = np.random.default_rng(seed)
    pos = rng.uniform(0.05, 0.95, (n, 2))
    w = rng.standard_normal((n, w_dim)).astype(np.float32)  # neighbours unrelated: the hardest case
    return pos, w


def _line(lookup, fn, a, b, steps):
    ts = np.linspace(0, 1, steps)
    pts = a[None] + ts[:, None] * (b - a)[None]
    ws = np.stack([fn(x, y) for x, y in pts])
    seg = np.linalg.norm(b - a) / (steps - 1)
    return np.linalg.norm(np.diff(ws, axis=0), axis=1) / seg  # W step per unit of map distance


def test_kernel_is_one_at_zero_and_vanishes_smoothly_at_the_radius():
    assert wendland(np.array([0.0]))[0] == 1.0
    r = np.array([0.999, 1.0, 1.5])
    assert wendland(r)[0] < 1e-9 and wendland(r)[1] == 0 and wendland(r)[2] == 0


def test_a_line_across_the_map_gives_continuous_w_and_beats_nearest_neighbour_tenfold():
    pos, w = _cloud()
    lookup = MapLookup(pos, w)
    a, b = np.array([0.02, 0.1]), np.array([0.97, 0.9])
    ours = _line(lookup, lambda x, y: lookup(x, y), a, b, 4000)
    nn = _line(lookup, lambda x, y: w[lookup.nearest(x, y)], a, b, 4000)
    # nearest neighbour jumps by a whole sample difference at each Voronoi edge
    assert nn.max() > 10 * ours.max(), (nn.max(), ours.max())
    # and ours is continuous: halving the step does not raise the largest slope (a jump would double it)
    finer = _line(lookup, lambda x, y: lookup(x, y), a, b, 8000)
    assert finer.max() < 1.25 * ours.max()


def test_continuity_holds_zoomed_in_and_far_outside_the_cloud():
    pos, w = _cloud(200)
    lookup = MapLookup(pos, w)
    for zoom in (0.25, 4.0, 16.0):
        fn = lambda x, y: lookup(x, y, zoom)  # noqa: E731
        coarse = _line(lookup, fn, np.array([-0.5, 0.5]), np.array([1.5, 0.52]), 3000).max()
        fine = _line(lookup, fn, np.array([-0.5, 0.5]), np.array([1.5, 0.52]), 6000).max()
        assert np.isfinite(coarse) and fine < 1.25 * coarse, zoom
    far = lookup(50.0, -30.0)
    assert np.all(np.isfinite(far))


def test_zoomed_in_on_a_sample_gives_that_sample_and_zoom_out_blends():
    pos, w = _cloud(300)
    lookup = MapLookup(pos, w)
    i = 17
    near = lookup(*pos[i], zoom=16.0)
    other = np.linalg.norm(w - near, axis=1)
    assert int(np.argmin(other)) == i and other[i] < 0.5 * np.median(other)
    idx_in, _ = lookup.weights(*pos[i], zoom=16.0)
    idx_out, _ = lookup.weights(*pos[i], zoom=0.25)
    assert len(idx_out) > 4 * len(idx_in)


def test_weights_are_a_convex_combination():
    pos, w = _cloud(100)
    lookup = MapLookup(pos, w)
    idx, wts = lookup.weights(0.3, 0.7)
    assert len(idx) >= lookup.k and np.all(wts >= 0) and abs(wts.sum() - 1) < 1e-9
    np.testing.assert_allclose(lookup(0.3, 0.7), wts @ w[idx], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("pos,w", [(np.zeros((3, 3)), np.zeros((3, 4))), (np.zeros((3, 2)), np.zeros((4, 4))),
                                   (np.full((3, 2), np.nan), np.zeros((3, 4)))])
def test_bad_inputs_are_refused(pos, w):
    with pytest.raises(ValueError):
        MapLookup(pos, w)
