"""PCA directions in W (GANSpace), their cache, and user direction files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latentperform.config import UserError
from latentperform.latent.directions import (directions_for, find_directions, load_directions,
                                             principal_directions)
from latentperform.models.base import truncate


class AnisotropicW:
    """A stand-in generator whose w has known principal axes (variances 25, 9, 4, 1, ...)."""

    def __init__(self, w_dim: int = 8) -> None:
        self.z_dim, self.c_dim, self.w_dim, self.num_ws = w_dim, 0, w_dim, 2
        q, _ = torch.linalg.qr(torch.randn(w_dim, w_dim, generator=torch.Generator().manual_seed(3)))
        self.axes = q.T  # rows: the true axes
        self.scales = torch.tensor([5.0, 3.0, 2.0] + [1.0 / (i + 1) for i in range(w_dim - 3)])
        self.w_avg = torch.full((w_dim,), 0.5)
        self.calls = 0

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        self.calls += 1
        w = self.w_avg + (z * self.scales) @ self.axes
        return truncate(w.unsqueeze(1).expand(-1, self.num_ws, -1), self.w_avg, truncation_psi,
                        truncation_cutoff)


def test_pca_recovers_known_axes_in_order():
    G = AnisotropicW()
    dirs = find_directions(G, count=3, samples=4000, seed=0)
    assert dirs.shape == (3, 8) and dirs.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(dirs, axis=1), 1, atol=1e-5)
    for k in range(3):
        assert abs(float(dirs[k] @ G.axes[k].numpy())) > 0.98, k
    # deterministic, including signs
    np.testing.assert_array_equal(dirs, find_directions(G, count=3, samples=4000, seed=0))


def test_principal_directions_variances_descend():
    w = np.random.default_rng(0).normal(size=(500, 5)) * np.array([4, 3, 2, 1, 0.5])
    dirs, var = principal_directions(w, 5)
    assert np.all(np.diff(var) < 0)
    np.testing.assert_allclose(dirs @ dirs.T, np.eye(5), atol=1e-5)


def test_cache_per_model_file(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTPERFORM_CACHE_DIR", str(tmp_path / "cache"))
    model = tmp_path / "model.pkl"
    model.write_bytes(b"x")
    G = AnisotropicW()
    a = directions_for(G, model, count=4, samples=1000)
    calls = G.calls
    b = directions_for(G, model, count=4, samples=1000)
    assert G.calls == calls, "second call must come from the cache"
    np.testing.assert_array_equal(a, b)
    assert len(list((tmp_path / "cache").glob("directions-*.npz"))) == 1
    # a changed model file is a new entry
    import os
    st = model.stat()
    os.utime(model, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000))
    directions_for(G, model, count=4, samples=1000)
    assert G.calls > calls
    assert len(list((tmp_path / "cache").glob("directions-*.npz"))) == 2


def test_damaged_cache_entry_is_recomputed(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTPERFORM_CACHE_DIR", str(tmp_path))
    G = AnisotropicW()
    directions_for(G, "builtin:64", count=2, samples=200)
    for f in tmp_path.glob("directions-*.npz"):
        f.write_bytes(b"garbage")
    dirs = directions_for(G, "builtin:64", count=2, samples=200)
    assert dirs.shape == (2, 8)


def test_builtin_generator_directions():
    from latentperform.models.builtin import BuiltinGenerator
    G = BuiltinGenerator(resolution=16)
    dirs = find_directions(G, count=4, samples=512)
    assert dirs.shape == (4, G.w_dim) and np.isfinite(dirs).all()


def test_load_user_directions(tmp_path):
    p = tmp_path / "d.npy"
    np.save(p, np.arange(8, dtype=np.float64) + 1)
    d = load_directions(p, 8)
    assert d.shape == (1, 8) and d.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(d, axis=1), 1, rtol=1e-6)
    np.save(p, np.eye(3, 8) * 2)
    np.testing.assert_allclose(load_directions(p, 8, normalize=False), np.eye(3, 8) * 2)


@pytest.mark.parametrize("array, match", [
    (np.zeros((2, 7)), "shape"),
    (np.zeros((2, 8)), "all zeros"),
    (np.full(8, np.nan), "NaN"),
    (np.array(["a"] * 8), "numbers"),
    (np.zeros((2, 2, 8)), "shape"),
])
def test_bad_user_directions(tmp_path, array, match):
    p = tmp_path / "bad.npy"
    np.save(p, array)
    with pytest.raises(UserError, match=match):
        load_directions(p, 8)


def test_object_array_npy_is_refused_not_unpickled(tmp_path):
    p = tmp_path / "obj.npy"
    np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="not a numeric"):
        load_directions(p, 8)
    with pytest.raises(UserError, match="no such"):
        load_directions(tmp_path / "absent.npy", 8)
    (tmp_path / "text.npy").write_text("hello")
    with pytest.raises(UserError, match="not a numeric"):
        load_directions(Path(tmp_path / "text.npy"), 8)
