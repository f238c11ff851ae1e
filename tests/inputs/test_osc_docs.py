"""The generated OSC reference: every address with its arguments, range and meaning; stable
output; the staleness check."""

from __future__ import annotations

from latentperform.events import ParamSpec
from latentperform.inputs.osc import COMMANDS
from latentperform.inputs.osc_docs import FEEDBACK, osc_docs_diff, render_osc_docs

SPECS = [
    ParamSpec("latent/truncation", 0.7, 0.0, 1.5, "truncation psi | how typical", osc="/lp/truncation"),
    ParamSpec("latent/keyframe/next", kind="trigger", osc="/lp/keyframe/next", args="", doc="next keyframe"),
    ParamSpec("latent/keyframe", 0, 0, 15, "glide to keyframe", kind="trigger", osc="/lp/keyframe", args="i"),
    ParamSpec("latent/xy", 0.5, 0.0, 1.0, "position", osc="/lp/xy", args="ff"),
    ParamSpec("internal/only", 0.0),
]


def test_table_lists_every_address_once_sorted():
    text = render_osc_docs(SPECS)
    params_part = text.split("## Commands")[0]
    rows = [line for line in params_part.splitlines() if line.startswith("| `/lp/")]
    assert [r.split("`")[1] for r in rows] == ["/lp/keyframe", "/lp/keyframe/next", "/lp/truncation", "/lp/xy"]
    truncation = next(r for r in rows if "`/lp/truncation`" in r)
    assert "| float | 0 … 1.5 (default 0.7) |" in truncation
    assert "truncation psi \\| how typical" in truncation  # a '|' in a doc does not break the table
    assert "| none | — |" in next(r for r in rows if "`/lp/keyframe/next`" in r)
    assert "| int (optional) | 0 … 15 |" in next(r for r in rows if "`/lp/keyframe`" in r)
    assert "| float float |" in next(r for r in rows if "`/lp/xy`" in r)
    assert "internal/only" not in text
    assert "/lp/param/<name>" in text  # the feedback section
    commands = text.split("## Commands")[1].split("## Feedback")[0]
    assert [l.split("`")[1] for l in commands.splitlines() if l.startswith("| `")] == sorted(c.address for c in COMMANDS)
    assert "| `/lp/scene/recall` | string float |" in commands
    assert "| `/lp/learn` | string (optional) |" in commands and "| `/lp/learn/cancel` | none |" in commands
    assert {c.address for c in COMMANDS} <= set(text.split("`"))
    feedback = text.split("## Feedback")[1]
    assert [l.split("`")[1] for l in feedback.splitlines() if l.startswith("| `")] == [a for a, _, _ in FEEDBACK]
    assert "/lp/learn/status" in feedback


def test_output_is_stable_and_the_staleness_check_sees_changes(tmp_path):
    path = tmp_path / "osc.md"
    text = render_osc_docs(SPECS)
    assert render_osc_docs(list(reversed(SPECS))) == text
    assert "osc.md" in osc_docs_diff(path, text)  # missing file: stale
    path.write_text(text)
    assert osc_docs_diff(path, text) == ""
    newer = render_osc_docs([*SPECS, ParamSpec("shader/bloom/amount", osc="/lp/shader/bloom/amount")])
    assert "+| `/lp/shader/bloom/amount`" in osc_docs_diff(path, newer)
