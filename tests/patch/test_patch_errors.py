"""Each kind of invalid patch is refused with file, line, key and what was expected."""

from __future__ import annotations

import re

import numpy as np
import pytest

from latentperform.config import UserError
from latentperform.patch import PatchError, load_patch, parse_patch

GOOD = """\
[patch]
name = "t"

[model]
kind = "builtin"
seed = 1

[output]
shaders = ["feedback", "grade"]

[[keyframes]]
seed = 1

[[mapping]]
source = "audio/level"
target = "latent/speed"

[[mapping]]
source = "midi/cc/0/7"
target = "latent/truncation"
curve = "lin"
"""


def error_of(text: str, filename: str = "patches/x.toml") -> str:
    with pytest.raises(PatchError) as info:
        parse_patch(text, filename)
    assert isinstance(info.value, UserError)
    return str(info.value)


def line_of(text: str, needle: str) -> int:
    for i, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return i
    raise AssertionError(needle)


def test_good_patch_parses():
    patch = parse_patch(GOOD, "patches/x.toml")
    assert [m.target for m in patch.mappings] == ["latent/speed", "latent/truncation"]


def test_bad_enum_names_file_line_key_and_choices():
    text = GOOD.replace('curve = "lin"', 'curve = "foo"')
    msg = error_of(text)
    assert msg == (f'patches/x.toml:{line_of(text, "curve =")}: mapping[1].curve: expected one of '
                   '"lin", "exp", "log", "smooth", got "foo"')


def test_bad_enum_suggests_the_close_one():
    msg = error_of(GOOD.replace('curve = "lin"', 'curve = "smoth"'))
    assert 'did you mean "smooth"?' in msg


def test_unknown_key_with_suggestion():
    text = GOOD.replace('curve = "lin"', 'curv = "lin"')
    msg = error_of(text)
    assert msg == f'patches/x.toml:{line_of(text, "curv =")}: mapping[1].curv: unknown key; did you mean "curve"?'


def test_unknown_section():
    text = GOOD + '\n[outptu]\nfps = 30\n'
    msg = error_of(text)
    assert msg.startswith(f"patches/x.toml:{line_of(text, '[outptu]')}: outptu: unknown key")
    assert 'did you mean "output"?' in msg


def test_wrong_type():
    text = GOOD.replace("seed = 1\n\n[output]", 'seed = "one"\n\n[output]')
    msg = error_of(text)
    line = line_of(text, 'seed = "one"')
    assert msg == f'patches/x.toml:{line}: model.seed: expected an integer, got "one" (a string)'


def test_out_of_range():
    text = GOOD.replace("[output]\n", "[output]\nfps = 1000\n")
    msg = error_of(text)
    assert msg == f"patches/x.toml:{line_of(text, 'fps =')}: output.fps: expected a number from 1 to 240, got 1000"


def test_out_of_range_port_in_nested_table():
    text = GOOD + "\n[inputs.osc]\nhost = \"0.0.0.0\"\nport = 70000\n"
    msg = error_of(text)
    assert msg == (f"patches/x.toml:{line_of(text, 'port =')}: inputs.osc.port: "
                   "expected an integer from 1 to 65535, got 70000")


def test_toml_syntax_error_has_line():
    text = GOOD.replace('name = "t"', 'name = "t')
    msg = error_of(text)
    assert re.match(rf"patches/x.toml:{line_of(text, 'name =')}: TOML syntax error: ", msg), msg


def test_toml_syntax_error_missing_equals():
    text = GOOD.replace("seed = 1\n\n[output]", "seed 1\n\n[output]")
    msg = error_of(text)
    assert msg.startswith(f"patches/x.toml:{line_of(text, 'seed 1')}: TOML syntax error")


def test_missing_keyframe_file(tmp_path):
    text = GOOD.replace("[[keyframes]]\nseed = 1", '[[keyframes]]\nfile = "lost.npy"')
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(PatchError) as info:
        load_patch(path)
    msg = str(info.value)
    assert msg.startswith(f"{path}:{line_of(text, 'lost.npy')}: keyframes[0].file: keyframe file not found: ")
    assert str(tmp_path / "lost.npy") in msg


def test_keyframe_file_resolves_against_the_patch_folder(tmp_path):
    (tmp_path / "lat").mkdir()
    np.save(tmp_path / "lat" / "a.npy", np.ones(8, np.float32))
    path = tmp_path / "p.toml"
    path.write_text(GOOD.replace("[[keyframes]]\nseed = 1", '[[keyframes]]\nfile = "lat/a.npy"\nname = "a"'))
    patch = load_patch(path)
    assert patch.keyframes[0].file == tmp_path / "lat" / "a.npy"
    assert patch.keyframes[0].name == "a"


def test_keyframe_needs_seed_or_file():
    text = GOOD.replace("[[keyframes]]\nseed = 1", '[[keyframes]]\nname = "x"')
    msg = error_of(text)
    assert msg == f"patches/x.toml:{line_of(text, '[[keyframes]]')}: keyframes[0]: expected seed = <integer> or file = \"<name>.npy\""


def test_model_path_resolved_and_checked(tmp_path):
    (tmp_path / "net.pkl").write_bytes(b"x")
    path = tmp_path / "p.toml"
    path.write_text(GOOD.replace('kind = "builtin"', 'kind = "net.pkl"'))
    assert load_patch(path).model.kind == str(tmp_path / "net.pkl")
    path.write_text(GOOD.replace('kind = "builtin"', 'kind = "gone.pkl"'))
    with pytest.raises(PatchError, match=r"p.toml:5: model.kind: network file not found"):
        load_patch(path)


def test_model_kind_forms():
    assert parse_patch(GOOD.replace('kind = "builtin"', 'kind = "python:my.pkg:make"'), "x.toml").model.kind \
        == "python:my.pkg:make"
    msg = error_of(GOOD.replace('kind = "builtin"', 'kind = "stylegan"'))
    assert "model.kind: expected \"builtin\"" in msg


def test_unknown_target_with_suggestion():
    text = GOOD.replace('target = "latent/truncation"', 'target = "latent/truncaton"')
    msg = error_of(text)
    assert msg == (f'patches/x.toml:{line_of(text, "truncaton")}: mapping[1].target: unknown parameter '
                   '"latent/truncaton"; did you mean "latent/truncation"?')


def test_shader_targets_checked_against_the_listed_passes():
    ok = GOOD.replace('target = "latent/truncation"', 'target = "shader/grade/anything_at_all"')
    assert parse_patch(ok, "x.toml").mappings[1].target == "shader/grade/anything_at_all"
    text = GOOD.replace('target = "latent/truncation"', 'target = "shader/feedbak/zoom"')
    msg = error_of(text)
    assert 'shader pass "feedbak" is not in output.shaders' in msg and 'did you mean "feedback"?' in msg
    assert msg.startswith(f"patches/x.toml:{line_of(text, 'feedbak')}: mapping[1].target: ")
    assert "shader/<pass>/<uniform>" in error_of(GOOD.replace('target = "latent/truncation"',
                                                               'target = "shader/grade"'))


def test_direction_targets_any_index():
    p = parse_patch(GOOD.replace('target = "latent/truncation"', 'target = "latent/direction/12"'), "x.toml")
    assert p.mappings[1].target == "latent/direction/12"


def test_missing_source():
    text = GOOD.replace('source = "midi/cc/0/7"\n', "")
    msg = error_of(text)
    assert 'mapping[1]: missing key "source"' in msg


def test_range_must_be_two_numbers():
    text = GOOD.replace('curve = "lin"', 'range = [0, "a"]')
    msg = error_of(text)
    assert msg == f'patches/x.toml:{line_of(text, "range =")}: mapping[1].range: expected a number, got "a" (a string)'
    assert "expected an array of two numbers" in error_of(GOOD.replace('curve = "lin"', "range = [1]"))


def test_trigger_rules():
    msg = error_of(GOOD.replace('target = "latent/truncation"', 'target = "latent/keyframe/next"\nmode = "value"'))
    assert "is a trigger" in msg
    msg = error_of(GOOD.replace('curve = "lin"', 'quantize = "bar"'))
    assert "mapping[1].quantize: only triggers wait for the beat" in msg


def test_all_errors_reported_at_once():
    text = GOOD.replace('curve = "lin"', 'curve = "foo"').replace("seed = 1\n\n[output]", "seed = -4\n\n[output]")
    with pytest.raises(PatchError) as info:
        parse_patch(text, "x.toml")
    assert len(info.value.errors) == 2
    assert any("model.seed" in e for e in info.value.errors)
    assert any("mapping[1].curve" in e for e in info.value.errors)


def test_single_brackets_for_an_array_of_tables():
    msg = error_of(GOOD.replace("[[keyframes]]", "[keyframes]"))
    assert "keyframes: expected [[keyframes]] tables" in msg


def test_missing_patch_file(tmp_path):
    with pytest.raises(PatchError, match="no such patch file"):
        load_patch(tmp_path / "nope.toml")


def test_from_dict_without_a_file_raises_too():
    from latentperform.patch import Mapping
    with pytest.raises(PatchError, match=r'^mapping\[0\].curve: expected one of'):
        Mapping.from_dict({"source": "a/b", "target": "latent/speed", "curve": "x"})


def test_work_scale_is_auto_or_a_fraction(tmp_path):
    from latentperform.patch import load_patch
    from latentperform.patch.reader import PatchError
    path = tmp_path / "p.toml"
    path.write_text("[output]\nwork_scale = 0.5\n")
    assert load_patch(path).output.work_scale == 0.5
    path.write_text("[output]\nwork_scale = 2\n")
    with pytest.raises(PatchError, match=r'p.toml:2: output.work_scale: expected "auto" or a number from 0.1 to 1, got 2'):
        load_patch(path)
