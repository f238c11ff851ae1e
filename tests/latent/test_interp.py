"""slerp and easing: endpoints exact, norm kept, midpoint, degenerate inputs."""

from __future__ import annotations

import numpy as np
import pytest

from latentperform.latent import ease_hold, slerp, z_from_seed


def test_endpoints_exact():
    a, b = z_from_seed(1, 512), z_from_seed(2, 512)
    assert np.array_equal(slerp(a, b, 0.0), a)
    assert np.array_equal(slerp(a, b, 1.0), b)


def test_norm_stays_near_the_endpoints():
    a, b = z_from_seed(1, 512), z_from_seed(2, 512)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    for t in np.linspace(0, 1, 21):
        n = np.linalg.norm(slerp(a, b, t))
        assert n == pytest.approx((1 - t) * na + t * nb, rel=1e-9)
    # a straight line would sag toward the origin half way
    assert np.linalg.norm((a + b) / 2) < 0.8 * np.linalg.norm(slerp(a, b, 0.5))


def test_midpoint_of_orthogonal_unit_vectors():
    a, b = np.array([1.0, 0.0]), np.array([0.0, 1.0])
    assert np.allclose(slerp(a, b, 0.5), [np.sqrt(0.5), np.sqrt(0.5)])
    assert np.allclose(slerp(a, b, 1 / 3), [np.cos(np.pi / 6), np.sin(np.pi / 6)])


def test_equal_angles_for_equal_steps():
    a, b = z_from_seed(3, 64), z_from_seed(4, 64)
    pts = [slerp(a, b, t) / np.linalg.norm(slerp(a, b, t)) for t in np.linspace(0, 1, 5)]
    angles = [np.arccos(np.clip(np.dot(p, q), -1, 1)) for p, q in zip(pts, pts[1:])]
    assert np.allclose(angles, angles[0])


@pytest.mark.parametrize("a,b", [
    (np.zeros(8), np.zeros(8)),
    (np.zeros(8), np.ones(8)),
    (np.ones(8), np.ones(8)),
    (np.ones(8), -np.ones(8)),
    (np.ones(8), 2 * np.ones(8)),
])
def test_no_nan_for_degenerate_inputs(a, b):
    for t in (0.0, 0.3, 0.5, 1.0):
        out = slerp(a, b, t)
        assert np.all(np.isfinite(out))
    assert np.allclose(slerp(np.ones(8), np.ones(8), 0.5), np.ones(8))


def test_ease_hold():
    assert ease_hold(0.3, 0.0) == 0.3
    assert ease_hold(0.5, 0.75) == 0.0
    assert ease_hold(0.875, 0.75) == pytest.approx(0.5)
    assert ease_hold(1.0, 0.75) == pytest.approx(1.0)


def test_seed_is_numpy_default_rng():
    assert np.array_equal(z_from_seed(42, 16), np.random.default_rng(42).standard_normal(16))
