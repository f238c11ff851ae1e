"""Building an atlas: the map separates known latent clusters, finds their number, and the file
round-trips; damaged, foreign and wrong-model atlases are one clear error each."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

from latentperform.atlas import AtlasError, read_atlas, write_atlas
from latentperform.atlas.build import build_atlas, layout_features
from latentperform.atlas.layout import trustworthiness
from latentperform.atlas.sample import check_model, seeds_z
from latentperform.models.loader import load_generator
from tests.atlas.synthetic import CLUSTERS, ClusteredGenerator

import torch


@pytest.fixture(scope="module")
def clustered(tmp_path_factory):
    out = tmp_path_factory.mktemp("atlas") / "clusters.atlas"
    G = ClusteredGenerator(resolution=16)
    atlas = build_atlas(G, "clustered", out, samples=400, size=16, stream=io.StringIO())
    truth = G.cluster_of(torch.from_numpy(seeds_z(atlas.seeds, G.z_dim))).numpy()
    return G, atlas, truth, out


def test_the_map_separates_the_known_clusters(clustered):
    G, atlas, truth, _ = clustered
    pos = atlas.positions
    # neighbourhood preservation: trustworthiness of the map against the features it was made from
    t = trustworthiness(layout_features(atlas.w, atlas.descriptors), pos, k=10)
    assert t > 0.9, t
    # and the clusters stay apart: a sample's 10 nearest on the map are (nearly all) of its cluster
    d = ((pos[:, None] - pos[None]) ** 2).sum(-1)
    np.fill_diagonal(d, np.inf)
    nn = np.argsort(d, axis=1)[:, :10]
    agree = (truth[nn] == truth[:, None]).mean()
    assert agree > 0.97, agree


def test_it_finds_the_right_number_of_regions_and_they_match_the_clusters(clustered):
    _, atlas, truth, _ = clustered
    assert len(atlas.regions) == CLUSTERS
    # each region is (almost) one cluster
    for k in range(CLUSTERS):
        members = truth[atlas.labels == k]
        assert np.bincount(members).max() / len(members) > 0.95
    names = [r.name for r in atlas.regions]
    assert len(set(names)) == len(names) and all(n for n in names)
    for k, r in enumerate(atlas.regions):
        assert atlas.labels[r.representative] == k and r.size == int((atlas.labels == k).sum())


def test_the_build_is_deterministic_so_names_are_stable(clustered, tmp_path):
    G, atlas, _, _ = clustered
    again = build_atlas(G, "clustered", tmp_path / "again.atlas", samples=400, size=16, stream=io.StringIO(),
                        poster=None)
    assert [r.name for r in again.regions] == [r.name for r in atlas.regions]
    np.testing.assert_array_equal(again.labels, atlas.labels)


def test_file_round_trips_and_poster_is_written(clustered):
    _, atlas, _, out = clustered
    back = read_atlas(out)
    for name in ("seeds", "w", "positions", "labels", "descriptors", "thumbnails"):
        np.testing.assert_array_equal(getattr(back, name), getattr(atlas, name))
    assert [r.name for r in back.regions] == [r.name for r in atlas.regions]
    assert back.positions.min() >= 0 and back.positions.max() <= 1
    from PIL import Image
    with Image.open(out.with_suffix(".png")) as im:
        assert im.size[0] >= 800
        px = np.asarray(im.convert("RGB"))
    assert px.std() > 20  # thumbnails were placed, not a blank canvas


def test_a_truncated_atlas_is_one_clear_error(clustered, tmp_path):
    _, _, _, out = clustered
    data = out.read_bytes()
    for cut in (10, len(data) // 2, len(data) - 100):
        bad = tmp_path / f"cut{cut}.atlas"
        bad.write_bytes(data[:cut])
        with pytest.raises(AtlasError) as e:
            read_atlas(bad)
        assert "\n" not in str(e.value) and str(bad) in str(e.value)


def test_a_foreign_file_is_one_clear_error(tmp_path):
    png = tmp_path / "x.atlas"
    png.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
    with pytest.raises(AtlasError, match="not an atlas file"):
        read_atlas(png)
    other = tmp_path / "other.atlas"
    with zipfile.ZipFile(other, "w") as z:
        z.writestr("atlas.json", '{"format": "something-else"}')
    with pytest.raises(AtlasError, match="not a latentperform atlas"):
        read_atlas(other)
    pickled = tmp_path / "pickled.atlas"
    with zipfile.ZipFile(pickled, "w") as z:  # an object array needs pickle: refused, never loaded
        buf = io.BytesIO()
        np.save(buf, np.array([object()], dtype=object), allow_pickle=True)
        z.writestr("atlas.json", '{"format": "latentperform-atlas", "version": 1, "count": 1}')
        for name in ("seeds", "w", "positions", "labels", "descriptors", "thumbnails"):
            z.writestr(name + ".npy", buf.getvalue())
    with pytest.raises(AtlasError, match="damaged"):
        read_atlas(pickled)
    with pytest.raises(AtlasError, match="no such atlas"):
        read_atlas(tmp_path / "missing.atlas")


def test_a_wrong_model_is_refused_clearly(clustered):
    _, atlas, _, _ = clustered
    check_model(atlas.model, ClusteredGenerator(resolution=16), "clustered", "clusters.atlas")  # the same: fine
    with pytest.raises(AtlasError, match="was made from model 'clustered'"):
        check_model(atlas.model, ClusteredGenerator(resolution=16, seed=1), "clustered", "clusters.atlas")
    with pytest.raises(AtlasError, match="not from 'builtin'"):
        check_model(atlas.model, load_generator("builtin:32"), "builtin", "clusters.atlas")


def test_an_interrupted_build_resumes(tmp_path):
    G = load_generator("builtin:16")
    out = tmp_path / "b.atlas"

    class Stop(Exception):
        pass

    calls = []
    real = G.synthesis

    def flaky(ws, *a, **k):
        calls.append(len(ws))
        if len(calls) == 3:
            raise Stop
        return real(ws, *a, **k)

    G.synthesis = flaky
    with pytest.raises(Stop):
        build_atlas(G, "builtin:16", out, samples=64, size=16, batch=16, stream=io.StringIO(), poster=None)
    assert not out.exists() and len(list((tmp_path / "b.atlas.part").glob("batch-*.npy"))) == 2
    calls.clear()
    log = io.StringIO()
    atlas = build_atlas(G, "builtin:16", out, samples=64, size=16, batch=16, stream=log, poster=None)
    assert "resuming: 32 thumbnails" in log.getvalue()
    assert len([c for c in calls if c == 16]) == 2  # only the two missing batches were rendered
    assert not (tmp_path / "b.atlas.part").exists() and len(atlas) == 64
    fresh = build_atlas(load_generator("builtin:16"), "builtin:16", tmp_path / "c.atlas", samples=64, size=16,
                        batch=16, stream=io.StringIO(), poster=None)
    np.testing.assert_array_equal(atlas.thumbnails, fresh.thumbnails)
