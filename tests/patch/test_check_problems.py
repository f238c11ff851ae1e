"""`check` finds what the show would silently drop (issue 12, item 8): mapping sources no input
sends (with a did-you-mean), keyframe and directions .npy files that do not hold numbers of the
right shape.  (Shader passes are checked through the command line: tests/engine/test_cli_hardening.py.)"""

from __future__ import annotations

import numpy as np
import pytest

from latentperform.features.track import _CONTINUOUS
from latentperform.patch import load_patch
from latentperform.patch.check import AUDIO_SOURCES, npy_problem, patch_problems, source_problem


def test_the_audio_sources_are_the_feature_extractors():
    assert set(_CONTINUOUS) <= set(AUDIO_SOURCES)
    assert {"onset_event", "beat", *(f"chroma/{i}" for i in range(12))} <= set(AUDIO_SOURCES)


@pytest.mark.parametrize("source, says", [
    ("audio/bas", 'did you mean "audio/bass"'),
    ("clock/bet", 'did you mean "clock/beat"'),
    ("midi/c/0/7", 'did you mean "cc"'),
    ("midi/cc/0", "midi/cc/<channel>/<number>"),
    ("midi/cc/16/7", "0..15"),
    ("midi/note/0/200", "0..127"),
    ("aduio/bass", 'did you mean "audio/..."'),
])
def test_a_source_no_input_sends_is_named_with_a_hint(source, says):
    why = source_problem(source)
    assert why and says in why, why


@pytest.mark.parametrize("source", ["audio/bass", "audio/chroma/11", "audio/onset_event", "clock/beat",
                                    "clock/bar_phase", "midi/cc/0/7", "midi/note/9/*", "midi/pitchbend/0",
                                    "osc/1/fader1", "osc/td/*", "trigger/latent/keyframe/next",
                                    "param/latent/truncation", "clock/midi/bpm"])
def test_real_sources_pass(source):
    assert source_problem(source) is None


def test_npy_files_are_checked_without_unpickling(tmp_path):
    np.save(tmp_path / "z.npy", np.zeros(8, np.float32))
    np.save(tmp_path / "batch.npy", np.zeros((1, 8), np.float32))
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2), np.float32))
    np.save(tmp_path / "nan.npy", np.array([0.0, np.nan]))
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    assert npy_problem(tmp_path / "z.npy", "keyframe", (1,)) is None
    assert npy_problem(tmp_path / "batch.npy", "keyframe", (1,)) is None
    assert "shape (2, 2, 2)" in npy_problem(tmp_path / "cube.npy", "keyframe", (1,))
    assert "NaN" in npy_problem(tmp_path / "nan.npy", "keyframe", (1,))
    assert "not a readable" in npy_problem(tmp_path / "obj.npy", "keyframe", (1,))  # pickles are refused
    assert "not a readable" in npy_problem(tmp_path / "junk.npy", "keyframe", (1,))
    assert "(k, w_dim)" in npy_problem(tmp_path / "z.npy", "directions", (2,))


def test_patch_problems_name_file_and_line(tmp_path):
    np.save(tmp_path / "cube.npy", np.zeros((2, 2, 2), np.float32))
    np.save(tmp_path / "dirs.npy", np.zeros(5, np.float32))
    patch = tmp_path / "p.toml"
    patch.write_text('[inputs.audio]\nenabled = true\n\n[trajectory]\ndirections_file = "dirs.npy"\n\n'
                     '[[keyframes]]\nfile = "cube.npy"\n\n[[keyframes]]\nseed = 2\n\n'
                     '[[mapping]]\nsource = "audio/bas"\ntarget = "latent/pulse"\n\n'
                     '[[mapping]]\nsource = "audio/bass"\ntarget = "latent/pulse"\n')
    problems = patch_problems(load_patch(patch))
    assert len(problems) == 3, problems
    text = "\n".join(problems)
    assert f"{patch}:14: mapping[0].source" in text and 'did you mean "audio/bass"' in text
    assert f"{patch}:8: keyframes[0].file" in text
    assert f"{patch}:5: trajectory.directions_file" in text
