"""Every preset in patches/ is a test case: it loads, validates, round-trips and warns of nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from latentperform.config import PATCH_DIR
from latentperform.patch import Patch, check_patch, load_patch

PRESETS = sorted(Path(PATCH_DIR).glob("*.toml"))


def test_there_are_presets():
    names = {p.stem for p in PRESETS}
    assert {"default", "ambient", "keyframes-on-beat"} <= names


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_validates(path):
    patch = load_patch(path)
    assert patch.source_path == path
    assert patch.keyframes, "a preset names its keyframes"
    assert check_patch(path) == []


@pytest.mark.parametrize("path", PRESETS, ids=lambda p: p.name)
def test_preset_round_trips(path):
    patch = load_patch(path)
    again = Patch.from_dict(patch.to_dict(), source_path=patch.source_path)
    assert again == patch


def test_default_patch_contents():
    patch = load_patch(Path(PATCH_DIR) / "default.toml")
    assert patch.model.kind == "builtin"
    assert patch.inputs.audio.enabled and patch.inputs.osc.enabled and not patch.inputs.midi.enabled
    targets = {m.source: m.target for m in patch.mappings}
    assert targets["audio/level"] == "latent/speed"
    assert targets["audio/onset"] == "latent/pulse"
    assert targets["clock/beat"] == "shader/feedback/zoom"
    assert patch.trajectory.loop_beats == 16
    assert patch.trajectory.speed is None  # unset keys are left to the trajectory's defaults


def test_unknown_targets_message_names_the_line_and_the_closest_name(tmp_path):
    from latentperform.patch import unknown_targets
    path = tmp_path / "p.toml"
    path.write_text('[output]\nshaders = ["grade"]\n\n[[mapping]]\nsource = "a"\ntarget = "shader/grade/exposur"\n')
    patch = load_patch(path)
    assert unknown_targets(patch, ["shader/grade/exposure", "latent/speed"]) == [
        f'{path}:6: mapping[0].target: no parameter "shader/grade/exposur" in this show '
        '(the mapping is ignored); did you mean "shader/grade/exposure"?']
    assert unknown_targets(patch, ["shader/grade/exposur"]) == []
