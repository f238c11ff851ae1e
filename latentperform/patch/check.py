"""`check_patch`: load a patch (raising PatchError when invalid) and list what looks wrong
although it is allowed: things an artist would want to hear about before the show."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

from .lines import key_lines, line_of
from .schema import Patch, load_patch


def check_patch(path: str | Path) -> list[str]:
    """Validate the patch at `path` (raises PatchError) and return warnings, one line each."""
    patch = load_patch(path)
    try:
        lines = key_lines(Path(path).read_text(encoding="utf-8"))
    except OSError:
        lines = {}
    return patch_warnings(patch, str(path), lines)


def patch_warnings(patch: Patch, filename: str, lines: dict) -> list[str]:
    out: list[str] = []

    def warn(path: tuple, message: str) -> None:
        line = line_of(lines, path)
        out.append(f"{filename}:{line}: warning: {message}" if line else f"{filename}: warning: {message}")

    audio_on = patch.inputs.audio.enabled
    midi_on = patch.inputs.midi.enabled
    for i, m in enumerate(patch.mappings):
        if m.source.startswith("audio/") and not audio_on:
            warn(("mapping", i, "source"), f'mapping[{i}] listens to "{m.source}" but [inputs.audio] is off')
        if m.source.startswith("midi/") and not midi_on:
            warn(("mapping", i, "source"), f'mapping[{i}] listens to "{m.source}" but [inputs.midi] is off')
        if m.takeover == "relative" and m.curve != "lin":
            warn(("mapping", i, "curve"), f"mapping[{i}]: relative controls move linearly; curve is ignored")
        if m.envelope and m.takeover != "jump":
            warn(("mapping", i, "takeover"), f"mapping[{i}]: attack/release mappings ignore takeover")
    if patch.clock.source == "audio" and not audio_on:
        warn(("clock", "source"), 'clock source "audio" needs [inputs.audio] enabled')
    if patch.clock.source == "midi" and not midi_on:
        warn(("clock", "source"), 'clock source "midi" needs [inputs.midi] enabled')
    if not patch.keyframes:
        warn(("keyframes",), "no [[keyframes]]: four are drawn from [model] seed")
    seen: dict[tuple, int] = {}
    for i, m in enumerate(patch.mappings):
        key = (m.source, m.target)
        if key in seen:
            warn(("mapping", i), f"mapping[{i}] repeats mapping[{seen[key]}] ({m.source} -> {m.target})")
        seen.setdefault(key, i)
    return out


def unknown_targets(patch: Patch, names: Iterable[str]) -> list[str]:
    """Messages for mappings whose target is not among `names` (the show's real parameters:
    trajectory, shader chain, engine), with the line and the closest real name.  The engine calls
    this once the shader chain has declared its uniforms; such mappings are skipped, not fatal."""
    names = sorted(set(names))
    lines: dict = {}
    filename = str(patch.source_path) if patch.source_path else "<patch>"
    if patch.source_path is not None:
        try:
            lines = key_lines(Path(patch.source_path).read_text(encoding="utf-8"))
        except OSError:
            lines = {}
    out = []
    for i, m in enumerate(patch.mappings):
        if m.target in names:
            continue
        close = difflib.get_close_matches(m.target, names, n=1, cutoff=0.6)
        hint = f'; did you mean "{close[0]}"?' if close else "; see docs/osc.md for the names"
        line = line_of(lines, ("mapping", i, "target"))
        where = f"{filename}:{line}" if line else filename
        out.append(f'{where}: mapping[{i}].target: no parameter "{m.target}" in this show '
                   f"(the mapping is ignored){hint}")
    return out
