"""The README's command synopsis is the command line: every command, option and choice the
parser has is in it, and nothing it lists is missing from the parser (so they cannot drift)."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from latentperform.cli import build_parser

ROOT = Path(__file__).resolve().parents[1]


def synopsis() -> dict[str, str]:
    """command -> its synopsis text (continuation lines joined), from README's ## Commands block."""
    text = (ROOT / "README.md").read_text()
    block = text.split("## Commands", 1)[1].split("```", 2)[1]
    out: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        m = re.match(r"^latentperform ([a-z][a-z-]*)\b(.*)$", line)
        if m:
            current = m.group(1)
            out[current] = m.group(2).split("  #")[0]
        elif current and line.startswith(" "):
            out[current] += " " + line.strip()
    return out


def commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def test_every_command_is_in_the_synopsis_and_no_other():
    assert sorted(synopsis()) == sorted(commands())


def test_every_option_and_choice_is_in_the_synopsis_and_exists():
    lines = synopsis()
    for name, sp in commands().items():
        text = lines[name]
        listed = set(re.findall(r"--[a-z][a-z0-9-]*|--\[no-\][a-z0-9-]+", text))
        known = set()
        for action in sp._actions:
            longs = [o for o in action.option_strings if o.startswith("--") and o != "--help"]
            if not longs or action.help == argparse.SUPPRESS:    # hidden: for the supervisor's own use
                continue
            known.update(longs)
            if isinstance(action, argparse.BooleanOptionalAction):
                # --overlay / --no-overlay: either form, or --[no-]overlay
                base = longs[0]
                forms = {base, "--no-" + base[2:], "--[no-]" + base[2:]}
                known.update(forms)
                assert forms & listed, f"README synopsis of `{name}` lacks {base}"
            else:
                assert any(o in listed for o in longs), f"README synopsis of `{name}` lacks {longs[0]}"
            if action.choices and not isinstance(action, argparse.BooleanOptionalAction):
                for choice in action.choices:
                    assert re.search(rf"(?<![\w-]){re.escape(str(choice))}(?![\w-])", text), \
                        f"README synopsis of `{name} {longs[0]}` lacks the choice {choice!r}"
        if any(a.nargs == argparse.REMAINDER for a in sp._actions):
            continue    # parses its own arguments (atlas): its synopsis is its own business
        unknown = listed - known
        assert not unknown, f"README synopsis of `{name}` lists options the parser lacks: {sorted(unknown)}"
