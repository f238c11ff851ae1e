"""`atlas find`: a picture rendered from a known latent (near, but not at, an atlas sample) is
found: its place, a better W than the atlas's nearest sample, a lower picture error.  And the
CLI around it (find, variations, regions -> patch keyframes)."""

from __future__ import annotations

import contextlib
import io
from types import SimpleNamespace
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from latentperform.atlas import read_atlas
from latentperform.atlas.find import _mapping, find_image
from latentperform.atlas.sample import render_w, to_uint8
from latentperform.models.loader import load_generator
from latentperform.patch import load_patch

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def small(builtin_atlas):
    G, atlas = builtin_atlas
    return G, atlas, atlas.path.parent


@pytest.mark.parametrize("j", [40, 150])
def test_find_recovers_a_latent_near_a_sample(small, j):
    G, atlas, _ = small
    z_true = atlas.z_of(j) + 0.25 * np.random.default_rng(j).standard_normal(G.z_dim)
    w_true = _mapping(G, z_true[None]).astype(np.float32)
    picture = ((render_w(G, w_true, 32) + 1) / 2).clamp(0, 1)
    found = find_image(atlas, G, picture, iterations=12, population=12)
    d_found = np.linalg.norm(found.w - w_true[0])
    d_sample = np.linalg.norm(atlas.w[j] - w_true[0])
    d_typical = np.median(np.linalg.norm(atlas.w - w_true[0], axis=1))
    assert found.nearest == j                         # it starts from the right place
    assert d_found < d_sample < 0.5 * d_typical       # and gets closer in W than the atlas's sample
    assert found.error < 0.8 * found.start_error      # and in the picture
    assert np.linalg.norm(np.subtract(found.position, atlas.positions[j])) < 0.15


def _cli(*args):
    """The CLI in this process (its main() is what the console script runs): saves a torch import
    per call; the one-line error rule is main()'s, checked the same way."""
    from latentperform.cli import main
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(list(args))
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def test_cli_find_writes_keyframes_into_a_patch_and_regions_too(small, tmp_path):
    G, atlas, folder = small
    Image.fromarray(to_uint8(render_w(G, atlas.w[7:8], 64))[0]).save(tmp_path / "pic.png")
    patch = tmp_path / "show.toml"
    patch.write_text((ROOT / "patches" / "default.toml").read_text())
    r = _cli("atlas", "find", str(tmp_path / "pic.png"), "--atlas", str(atlas.path), "--variations", "2",
             "--patch", str(patch))
    assert r.returncode == 0, r.stderr
    assert "near sample" in r.stdout and "added 3 keyframes" in r.stdout
    r = _cli("atlas", "regions", str(patch), "--atlas", str(atlas.path))
    assert r.returncode == 0, r.stderr
    p = load_patch(patch)
    names = [k.name for k in p.keyframes]
    assert names[-len(atlas.regions):] == [reg.name for reg in atlas.regions]
    assert [k.seed for k in p.keyframes[-len(atlas.regions):]] == [int(atlas.seeds[reg.representative])
                                                                 for reg in atlas.regions]
    assert "found-pic" in names and (tmp_path / "pic-found.npy").is_file()
    assert "# " in patch.read_text()  # the patch's comments survived
    z = np.load(tmp_path / "pic-found.npy")
    assert z.shape == (G.z_dim,)


def test_cli_errors_are_one_line(small, tmp_path):
    _, atlas, _ = small
    bad = tmp_path / "cut.atlas"
    bad.write_bytes(atlas.path.read_bytes()[:5000])
    r = _cli("atlas", "regions", str(ROOT / "patches" / "default.toml"), "--atlas", str(bad))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "truncated" in r.stderr
    r = _cli("atlas", "find", str(tmp_path / "nothing.png"), "--atlas", str(atlas.path), "--model", "builtin:32,seed=4")
    assert r.returncode == 2 and "was made from model" in r.stderr and r.stderr.count("\n") == 1
    r = _cli("atlas", "builtin", "--out", str(tmp_path / "nofolder" / "x.atlas"))
    assert r.returncode == 2 and "does not exist" in r.stderr
