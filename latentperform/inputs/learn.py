"""MIDI (and OSC) learn, the pure part: find the control the performer moved, and write the
mapping into the patch file with its comments kept.

`latentperform learn PATCH` and the in-show learn mode feed every drained event to a `Learner`;
the first control that really moves is the answer.  "Really moves" ignores jitter: a fader's
first message is only a baseline, and it must then change by `min_change` (3/127 by default).
A pressed note or pad, a program change, or an endless encoder repeating the same step counts
at once.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

import tomlkit
from tomlkit.exceptions import TOMLKitError

from ..config import UserError
from ..events import ControlEvent

# Addresses that are not a performer's hand on a control.
IGNORED_PREFIXES = ("clock/", "audio/", "param/", "trigger/", "replay/")


@dataclass(frozen=True)
class Learned:
    source: str
    target: str
    options: dict = field(default_factory=dict)


class Learner:
    """Watches events for the first control moved on purpose; `feed` returns it once found."""

    def __init__(self, target: str, *, min_change: float = 3 / 127, encoder_repeats: int = 3,
                 ignore: tuple[str, ...] = IGNORED_PREFIXES) -> None:
        self.target = target
        self.min_change = min_change
        self.encoder_repeats = encoder_repeats
        self.ignore = ignore
        self._baseline: dict[str, tuple[float, ...]] = {}
        self._last: dict[str, tuple[float, ...]] = {}
        self._repeats: dict[str, int] = {}
        self.result: Learned | None = None

    def feed(self, events: Iterable[ControlEvent]) -> Learned | None:
        if self.result is not None:
            return self.result
        for e in events:
            if e.address.startswith(self.ignore):
                continue
            if self._moved(e):
                self.result = Learned(e.address, self.target, self._options(e))
                break
        return self.result

    def _moved(self, e: ControlEvent) -> bool:
        addr = e.address
        value = e.value if isinstance(e.value, tuple) else (float(e.value),)
        if addr.startswith(("midi/note/", "midi/program/")):
            return addr.startswith("midi/program/") or value[0] > 0.0
        base = self._baseline.setdefault(addr, value)
        if len(value) != len(base):
            return True
        if max((abs(a - b) for a, b in zip(value, base)), default=0.0) >= self.min_change:
            return True
        # an endless encoder sends the same step (+1 or -1) again and again; jitter alternates
        self._repeats[addr] = self._repeats.get(addr, 0) + 1 if self._last.get(addr) == value else 1
        self._last[addr] = value
        return self._repeats[addr] >= self.encoder_repeats

    def _options(self, e: ControlEvent) -> dict:
        """Hints for the mapping: an encoder repeating one step is probably relative."""
        if self._repeats.get(e.address, 0) >= self.encoder_repeats and e.address.startswith("midi/cc/"):
            raw = round(e.scalar() * 127)
            if raw in (1, 2, 3, 125, 126, 127):
                return {"takeover": "relative", "encoding": "twos"}
            if raw in (61, 62, 63, 65, 66, 67):
                return {"takeover": "relative", "encoding": "offset"}
        return {}

    def reset(self) -> None:
        self._baseline.clear()
        self._last.clear()
        self._repeats.clear()
        self.result = None


def options_for(found: Learned, existing: dict | None = None) -> dict:
    """The keys to write with a learned source, given the mapping it re-points (as a plain
    dict, or None for a new one): the learner's hints, and an absolute control replacing a
    relative one drops `takeover` and `encoding` (they would read its values as steps).
    A value None means "remove this key" (see `write_mapping`)."""
    options = dict(found.options)
    if existing and existing.get("takeover") == "relative" and "takeover" not in options:
        options.update(takeover=None, encoding=None)
    return options


def _toml_value(v):
    return list(v) if isinstance(v, tuple) else v


def write_mapping(patch_path: str | Path, source: str, target: str, **options) -> int:
    """Add or update the [[mapping]] for `target` in the patch file; returns its index.

    A mapping that already drives `target` is re-pointed at `source` (learn re-binds a
    parameter), keeping its other keys and comments; otherwise a new [[mapping]] is appended.
    An option set to None removes that key.  The file is replaced atomically.
    """
    path = Path(patch_path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read the patch {path}: {e.strerror}") from None
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as e:
        raise UserError(f"{path}: not valid TOML ({e}); fix it before learning") from None
    mappings = doc.get("mapping")
    if mappings is None:
        mappings = tomlkit.aot()
        doc.append("mapping", mappings)
    elif not isinstance(mappings, list):
        raise UserError(f"{path}: 'mapping' must be an array of tables ([[mapping]])")
    index = next((i for i, m in enumerate(mappings) if m.get("target") == target), None)
    if index is None:
        table = tomlkit.table()
        table.add("source", source)
        table.add("target", target)
        table["source"].comment("learned")
        mappings.append(table)
        index = len(mappings) - 1
    table = mappings[index]
    table["source"] = source
    for key, value in options.items():
        if value is None:
            table.pop(key, None)
        else:
            table[key] = _toml_value(value)
    out = tomlkit.dumps(doc)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(out)
        os.chmod(tmp, path.stat().st_mode & 0o7777)
        os.replace(tmp, path)
    except OSError as e:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise UserError(f"cannot write the patch {path}: {e.strerror}") from None
    return index
