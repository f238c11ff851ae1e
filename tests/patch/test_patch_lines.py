"""The line scanner: key paths -> line numbers, past multi-line arrays and strings."""

from __future__ import annotations

from latentperform.patch.lines import key_lines, line_of

TEXT = '''\
title = "x"
[model]
seed = 1
notes = """
fake = 1
[not_a_table]
"""
[output]
shaders = [
  "a",
  "b",   # comment ]
]
size = [1, 2]
[[mapping]]
source = "a"
[[mapping]]
source = "b"
curve = "exp"
[inputs.osc]
port = 9
inline = { a = 1, b = [1,
  2] }
after = true
"quoted key" = 1
dotted.key = 2
'''


def test_key_lines():
    lines = key_lines(TEXT)
    assert lines[("title",)] == 1
    assert lines[("model",)] == 2
    assert lines[("model", "seed")] == 3
    assert lines[("model", "notes")] == 4
    assert ("model", "fake") not in lines and ("not_a_table",) not in lines
    assert lines[("output", "shaders")] == 9
    assert lines[("output", "size")] == 13
    assert lines[("mapping", 0)] == 14
    assert lines[("mapping", 0, "source")] == 15
    assert lines[("mapping", 1, "source")] == 17
    assert lines[("mapping", 1, "curve")] == 18
    assert lines[("inputs", "osc", "port")] == 20
    assert lines[("inputs", "osc", "inline")] == 21
    assert lines[("inputs", "osc", "after")] == 23
    assert lines[("inputs", "osc", "quoted key")] == 24
    assert lines[("inputs", "osc", "dotted", "key")] == 25


def test_line_of_falls_back_to_the_enclosing_table():
    lines = key_lines(TEXT)
    assert line_of(lines, ("mapping", 1, "range")) == 16
    assert line_of(lines, ("inputs", "osc", "inline", "a")) == 21
    assert line_of(lines, ("nowhere",)) is None
