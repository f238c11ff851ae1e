"""Keyframe edits written back into the patch: comments kept, the patch still valid, the files
the trajectory will read."""

from __future__ import annotations

import numpy as np
import pytest

from latentperform.config import UserError
from latentperform.control.keyframes import add_keyframe, delete_keyframe, move_keyframe
from latentperform.latent.keyframes import keyframe_z
from latentperform.patch import load_patch

PATCH = """# my show
[patch]
name = "kf"

[[keyframes]]
seed = 1   # the sunrise
name = "a"

[[keyframes]]
seed = 2
name = "b"

[[mapping]]
source = "osc/x"
target = "latent/speed"
"""


def test_add_move_delete_keep_the_patch_valid_and_its_comments(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    z = np.random.default_rng(5).standard_normal(512)
    assert add_keyframe(path, z, name="now") == 2
    p = load_patch(path)
    assert [k.name for k in p.keyframes] == ["a", "b", "now"]
    assert np.allclose(keyframe_z(p.keyframes[2], 512), z.astype(np.float32))
    move_keyframe(path, 2, 0)
    assert [k.name for k in load_patch(path).keyframes] == ["now", "a", "b"]
    delete_keyframe(path, 1)
    p = load_patch(path)
    assert [k.name for k in p.keyframes] == ["now", "b"] and p.mappings[0].target == "latent/speed"
    assert "# my show" in path.read_text()


def test_a_patch_without_keyframes_keeps_its_four_seeds(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text("[patch]\nname = \"x\"\n")
    delete_keyframe(path, 0, implicit_seeds=(7, 8, 9, 10))
    assert [k.seed for k in load_patch(path).keyframes] == [8, 9, 10]


def test_bad_edits_are_user_errors_and_leave_the_file(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    with pytest.raises(UserError, match="no keyframe 5"):
        delete_keyframe(path, 5)
    with pytest.raises(UserError, match="no keyframe 9"):
        move_keyframe(path, 9, 0)
    delete_keyframe(path, 0)
    with pytest.raises(UserError, match="at least one"):
        delete_keyframe(path, 0)
    path.write_text("[[keyframes]\nseed=1")
    with pytest.raises(UserError, match="not valid TOML"):
        add_keyframe(path, np.zeros(4))
    assert path.read_text() == "[[keyframes]\nseed=1"
