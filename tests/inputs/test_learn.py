"""Learn, the pure part and the file: what a learned control replaces (and says so), undo, one
message is enough, two-value parameters, and choosing the parameter at the prompt."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from latentperform.config import UserError
from latentperform.events import ControlEvent, ParamSpec
from latentperform.inputs.learn import (Learned, Learner, file_mappings, numbered, pick, plan_learned,
                                        undo_learn, write_plan)
from latentperform.patch import load_patch
from latentperform.patch.params import learn_parts, learnable_names, resolve_param

ROOT = Path(__file__).resolve().parents[2]


def ev(address, value, t=0.0, source="midi"):
    return ControlEvent(source, address, value, t)


# -- what a learn replaces -------------------------------------------------------------------------


def test_learning_a_parameter_driven_by_audio_adds_the_control_beside_it(tmp_path):
    """The issue: learning latent/speed on the default patch removed its audio/level source."""
    path = tmp_path / "default.toml"
    shutil.copy(ROOT / "patches" / "default.toml", path)
    plan = plan_learned(file_mappings(path), Learned("midi/cc/0/7", "latent/speed"))
    assert plan.replaced is None and plan.beside == ("audio/level",)
    assert plan.describe() == "midi/cc/0/7 -> latent/speed (added; audio/level still drives it)"
    record = write_plan(path, plan)
    sources = [(m.source, m.target) for m in load_patch(path).mappings if m.target == "latent/speed"]
    assert sources == [("audio/level", "latent/speed"), ("midi/cc/0/7", "latent/speed")]
    audio = next(m for m in load_patch(path).mappings if m.source == "audio/level")
    assert audio.range == (0.2, 2.0) and audio.smooth == 0.5          # untouched
    undo_learn(record)
    assert path.read_text() == (ROOT / "patches" / "default.toml").read_text()


PATCH = """\
# my show
[[mapping]]
source = "osc/fader/1"   # the old fader
target = "latent/truncation"
input = [0, 127]
takeover = "pickup"
range = [0.3, 1.2]       # keep it tame
smooth = 0.2
"""


def test_a_control_replaces_the_control_before_it_keeping_the_parameters_range(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    plan = plan_learned(file_mappings(path), Learned("midi/cc/0/16", "latent/truncation"))
    assert plan.index == 0 and plan.replaced["source"] == "osc/fader/1"
    assert plan.describe() == "midi/cc/0/16 -> latent/truncation (replaces osc/fader/1)"
    # range and smoothing are the parameter's; the 0..127 input and pickup were the old fader's
    assert plan.data == {"source": "midi/cc/0/16", "target": "latent/truncation", "range": [0.3, 1.2],
                         "smooth": 0.2}
    record = write_plan(path, plan)
    text = path.read_text()
    assert "# keep it tame" in text and "# my show" in text and "input" not in text
    m = load_patch(path).mappings[0]
    assert (m.source, m.range, m.input, m.takeover) == ("midi/cc/0/16", (0.3, 1.2), (0.0, 1.0), "jump")
    undo_learn(record)
    assert path.read_text() == PATCH


def test_undo_never_throws_away_a_later_edit(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    record = write_plan(path, plan_learned(file_mappings(path), Learned("midi/cc/0/16", "latent/truncation")))
    path.write_text(path.read_text() + "\n# edited by hand\n")
    with pytest.raises(UserError, match="edited after the learn; not undone"):
        undo_learn(record)
    assert "# edited by hand" in path.read_text()


def test_learning_the_same_control_again_changes_nothing(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    plan = plan_learned(file_mappings(path), Learned("osc/fader/1", "latent/truncation"))
    # re-learning the same address keeps the control's own keys (its 0..127 input, pickup)
    assert plan.unchanged and plan.describe() == "osc/fader/1 -> latent/truncation (already mapped)"
    assert plan.data["input"] == [0, 127] and plan.data["takeover"] == "pickup"


# -- one message, two values ------------------------------------------------------------------------


def test_one_osc_message_or_a_button_press_is_enough():
    """A TouchOSC button sends one message; the old learner wanted two different values."""
    assert Learner("engine/freeze").feed([ev("osc/button/1", 1.0, source="osc")]).source == "osc/button/1"
    assert Learner("engine/freeze").feed([ev("midi/cc/0/64", 1.0)]).source == "midi/cc/0/64"
    # a MIDI fader's first message is still only a baseline (jitter is not a choice)
    assert Learner("latent/speed").feed([ev("midi/cc/0/7", 40 / 127)]) is None


def test_an_xy_pad_learns_both_parts_from_one_message():
    lr = Learner("latent/xy", parts=("latent/xy/x", "latent/xy/y"))
    assert lr.waiting_for == "latent/xy/x"
    lr.feed([ev("osc/pad", (0.2, 0.7), source="osc")])
    assert [(r.source, r.target, r.options) for r in lr.results] == [
        ("osc/pad", "latent/xy/x", {"index": 0}), ("osc/pad", "latent/xy/y", {"index": 1})]


def test_two_faders_learn_x_then_y():
    lr = Learner("latent/xy", parts=("latent/xy/x", "latent/xy/y"))
    assert lr.feed([ev("midi/cc/0/1", 0.2), ev("midi/cc/0/1", 0.4)]) is None
    assert lr.waiting_for == "latent/xy/y"
    # the x fader again does not count for y
    assert lr.feed([ev("midi/cc/0/1", 0.6), ev("midi/cc/0/2", 0.1), ev("midi/cc/0/2", 0.3)]).target == "latent/xy/x"
    assert [r.source for r in lr.results] == ["midi/cc/0/1", "midi/cc/0/2"] and lr.waiting_for is None


SPECS = {s.name: s for s in [
    ParamSpec("latent/xy", 0.0, 0.0, 1.0, args="ff", osc="/lp/xy"),
    ParamSpec("latent/xy/x", 0.5, 0.0, 1.0, osc="/lp/xy/x"),
    ParamSpec("latent/xy/y", 0.5, 0.0, 1.0, osc="/lp/xy/y"),
    ParamSpec("latent/truncation", 1.0, 0.0, 2.0, osc="/lp/truncation"),
    ParamSpec("latent/speed", 1.0, -4.0, 8.0, osc="/lp/speed"),
]}


def test_a_two_value_parameter_can_be_named():
    """The issue: `unknown parameter "latent/xy"; did you mean "latent/xy"?`"""
    assert resolve_param("latent/xy", SPECS) == "latent/xy"
    assert resolve_param("/lp/xy", SPECS) == "latent/xy"
    assert learn_parts("latent/xy", SPECS) == ("latent/xy/x", "latent/xy/y")
    assert learn_parts("latent/speed", SPECS) == ("latent/speed",)
    assert "latent/xy" in learnable_names(SPECS, ())
    with pytest.raises(ValueError, match='did you mean "latent/speed"'):
        resolve_param("latent/sped", SPECS)


# -- the prompt ----------------------------------------------------------------------------------------


def test_the_prompt_takes_a_number_a_name_or_a_unique_part():
    names = learnable_names(SPECS, ())
    listing = numbered(names)
    assert listing.splitlines()[0] == "  1  latent/speed" and len(listing.splitlines()) == len(names)
    assert pick("2", names) == ("latent/truncation", [])
    assert pick("trunc", names) == ("latent/truncation", [])
    assert pick("latent/xy/x", names) == ("latent/xy/x", [])
    assert pick("xy", names) == (None, ["latent/xy", "latent/xy/x", "latent/xy/y"])   # ask again
    assert pick("99", names) == (None, []) and pick("", names) == (None, [])
