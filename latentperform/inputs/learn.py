"""MIDI (and OSC) learn, the pure part: find the control the performer moved, and write the
mapping into the patch file with its comments kept.

`latentperform learn PATCH` and the in-show learn mode feed every drained event to a `Learner`;
the first control that really moves is the answer.  "Really moves" ignores jitter: a MIDI
fader's first message is only a baseline, and it must then change by `min_change` (3/127 by
default).  One message is enough from a pressed note or pad, a program change, a CC at its top
(127: a button), and any OSC address (a host sends on purpose; a TouchOSC button sends one
message); an endless encoder repeating the same step counts after `encoder_repeats`.

A two-value parameter (`latent/xy`) is learned as its parts (`latent/xy/x`, `latent/xy/y`): an
OSC message with two values (an XY pad) fills both at once (`index` 0 and 1), otherwise one
control per part, in turn.

What learning does to the patch (`plan_learned`, the same for the file and the live show):
a mapping of `target` from another control (midi/, osc/) is replaced, keeping what belongs to
the parameter (range, curve, invert, smoothing, mode ...) and dropping what belonged to the old
control (input range, index, takeover, envelope ...); a mapping from anything else (audio,
clock) keeps driving the parameter, and the control is added beside it.  The plan says which.
`LearnRecord` remembers the file before and after, so a learn can be undone.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Sequence

import tomlkit
from tomlkit.exceptions import TOMLKitError

from ..config import UserError, write_atomic
from ..events import ControlEvent

# Addresses that are not a performer's hand on a control.
IGNORED_PREFIXES = ("clock/", "audio/", "param/", "trigger/", "replay/")


@dataclass(frozen=True)
class Learned:
    source: str
    target: str
    options: dict = field(default_factory=dict)


class Learner:
    """Watches events for the first control moved on purpose; `feed` returns it once found.

    parts   the parameters to fill (default: just `target`); a two-value parameter passes its
            parts (see the module docstring).  `results` holds one Learned per part; `feed`
            returns the first once all are found, and `waiting_for` names the part being learned.
    """

    def __init__(self, target: str, *, parts: Sequence[str] | None = None, min_change: float = 3 / 127,
                 encoder_repeats: int = 3, ignore: tuple[str, ...] = IGNORED_PREFIXES) -> None:
        self.target = target
        self.parts = tuple(parts) if parts else (target,)
        self.min_change = min_change
        self.encoder_repeats = encoder_repeats
        self.ignore = ignore
        self._baseline: dict[str, tuple[float, ...]] = {}
        self._last: dict[str, tuple[float, ...]] = {}
        self._repeats: dict[str, int] = {}
        self.results: tuple[Learned, ...] = ()
        self.result: Learned | None = None

    @property
    def waiting_for(self) -> str | None:
        return self.parts[len(self.results)] if len(self.results) < len(self.parts) else None

    def feed(self, events: Iterable[ControlEvent]) -> Learned | None:
        if self.result is not None:
            return self.result
        used = {r.source for r in self.results}
        for e in events:
            if e.address.startswith(self.ignore) or e.address in used:
                continue
            if self._moved(e):
                todo = self.parts[len(self.results):]
                values = e.value if isinstance(e.value, tuple) else ()
                if len(todo) > 1 and len(values) >= len(todo):      # an XY pad: every part at once
                    self.results += tuple(Learned(e.address, part, {"index": k})
                                          for k, part in enumerate(todo))
                else:
                    self.results += (Learned(e.address, todo[0], self._options(e)),)
                    used.add(e.address)
                if len(self.results) == len(self.parts):
                    self.result = self.results[0]
                    break
        return self.result

    def _moved(self, e: ControlEvent) -> bool:
        addr = e.address
        value = e.value if isinstance(e.value, tuple) else (float(e.value),)
        if addr.startswith(("midi/note/", "midi/program/")):
            return addr.startswith("midi/program/") or value[0] > 0.0
        if addr.startswith("osc/"):
            return True                  # one message: a host sends on purpose
        if addr.startswith("midi/cc/") and value and value[0] >= 1.0 and addr not in self._baseline:
            return True                  # a button's press (127) on a CC
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
        self.results = ()
        self.result = None


# -- what a learn does to the patch -------------------------------------------------------------------

CONTROL_PREFIXES = ("midi/", "osc/")
# keys that describe the control a mapping reads, not the parameter: dropped when a learned
# control replaces another
SOURCE_KEYS = ("input", "index", "bang", "takeover", "encoding", "step", "threshold", "edge",
               "attack", "release")


@dataclass(frozen=True)
class LearnPlan:
    """One learned control's change to the patch's [[mapping]] list.

    index     which mapping is replaced, or None: `data` is appended
    data      the new mapping as the file will hold it (plain TOML values)
    replaced  the mapping it replaces (None when added)
    beside    sources of other mappings that keep driving the target (audio, clock ...)
    """

    source: str
    target: str
    index: int | None
    data: dict
    replaced: dict | None = None
    beside: tuple[str, ...] = ()

    @property
    def unchanged(self) -> bool:
        return self.replaced is not None and self.replaced == self.data

    @property
    def note(self) -> str:
        """What else changes, in words ("replaces osc/fader/1", ...), or ""."""
        if self.unchanged:
            return "already mapped"
        if self.replaced is not None:
            return f"replaces {self.replaced.get('source')}"
        if self.beside:
            return f"added; {', '.join(self.beside)} still drives it"
        return ""

    def describe(self) -> str:
        """What changes, in words: `midi/cc/0/7 -> latent/speed (replaces osc/fader/1)`."""
        line = f"{self.source} -> {self.target}"
        return f"{line} ({self.note})" if self.note else line


def plan_learned(mappings: Sequence[dict], found: Learned) -> LearnPlan:
    """The change a learned control makes to the patch's mappings (plain dicts, in file order);
    see the module docstring for the rules."""
    index = next((i for i, m in enumerate(mappings) if m.get("target") == found.target
                  and str(m.get("source", "")).startswith(CONTROL_PREFIXES)), None)
    if index is None:
        data = {"source": found.source, "target": found.target}
        replaced = None
    else:
        replaced = dict(mappings[index])
        same = replaced.get("source") == found.source     # the same control again: keep its keys
        data = {k: v for k, v in replaced.items() if same or k not in SOURCE_KEYS}
        data["source"] = found.source
    for key, value in options_for(found, replaced).items():
        if value is None:
            data.pop(key, None)
        else:
            data[key] = _toml_value(value)
    beside = tuple(str(m.get("source")) for i, m in enumerate(mappings)
                   if i != index and m.get("target") == found.target and m.get("source") != found.source)
    return LearnPlan(found.source, found.target, index, data, replaced, beside)


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


def _read_doc(path: Path):
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read the patch {path}: {e.strerror}") from None
    try:
        doc = tomlkit.parse(text)
    except TOMLKitError as e:
        raise UserError(f"{path}: not valid TOML ({e}); fix it before learning") from None
    mappings = doc.get("mapping")
    if mappings is not None and not isinstance(mappings, list):
        raise UserError(f"{path}: 'mapping' must be an array of tables ([[mapping]])")
    return text, doc


def _replace_file(path: Path, out: str) -> None:
    """Write `out` to `path` atomically (config.write_atomic), keeping its mode."""
    try:
        write_atomic(path, out)
    except OSError as e:
        raise UserError(f"cannot write the patch {path}: {e.strerror}") from None


def file_mappings(patch_path: str | Path) -> list[dict]:
    """The patch file's [[mapping]] tables as plain dicts (for `plan_learned`)."""
    _, doc = _read_doc(Path(patch_path))
    return [dict(m.unwrap()) if hasattr(m, "unwrap") else dict(m) for m in (doc.get("mapping") or [])]


@dataclass(frozen=True)
class LearnRecord:
    """A learn written into a patch file: its text before and after, for `undo_learn`."""

    path: Path
    before: str
    after: str
    plan: LearnPlan


def write_plan(patch_path: str | Path, plan: LearnPlan) -> LearnRecord:
    """Apply a `LearnPlan` to the patch file, comments kept: the replaced mapping is edited in
    place (its comments stay), a new one appended.  Atomic; returns the record for undo."""
    path = Path(patch_path)
    before, doc = _read_doc(path)
    mappings = doc.get("mapping")
    if mappings is None:
        mappings = tomlkit.aot()
        doc.append("mapping", mappings)
    index = plan.index
    if index is not None and not (index < len(mappings) and mappings[index].get("target") == plan.target):
        index = None   # the file changed under us: add, do not overwrite a stranger
    if index is None:
        table = tomlkit.table()
        table.add("source", plan.source)
        table.add("target", plan.target)
        table["source"].comment("learned")
        mappings.append(table)
        index = len(mappings) - 1
    table = mappings[index]
    for key in [k for k in table if k not in plan.data]:
        del table[key]
    for key, value in plan.data.items():
        if table.get(key) != value:
            table[key] = value
    after = tomlkit.dumps(doc)
    _replace_file(path, after)
    return LearnRecord(path, before, after, replace(plan, index=index))


def undo_learn(record: LearnRecord) -> None:
    """Put the patch file back as it was before `record`'s learn.  Refused (UserError) when the
    file was edited since: undo never throws away someone's later edit."""
    try:
        now = record.path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read the patch {record.path}: {e.strerror}") from None
    if now != record.after:
        raise UserError(f"{record.path.name} was edited after the learn; not undone (edit it by hand)")
    _replace_file(record.path, record.before)


def write_mapping(patch_path: str | Path, source: str, target: str, **options) -> int:
    """Add or update the [[mapping]] for `target` in the patch file; returns its index.

    A mapping that already drives `target` is re-pointed at `source` (learn re-binds a
    parameter), keeping its other keys and comments; otherwise a new [[mapping]] is appended.
    An option set to None removes that key.  The file is replaced atomically.
    (The in-show and command-line learn use `plan_learned` + `write_plan`, which also say what
    they replace and can be undone.)
    """
    path = Path(patch_path)
    _, doc = _read_doc(path)
    mappings = doc.get("mapping")
    if mappings is None:
        mappings = tomlkit.aot()
        doc.append("mapping", mappings)
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
    _replace_file(path, tomlkit.dumps(doc))
    return index


# -- choosing the parameter at a prompt ---------------------------------------------------------------


def numbered(names: Sequence[str]) -> str:
    """The learnable names as a numbered list in columns, for `latentperform learn`'s prompt."""
    width = len(str(len(names)))
    return "\n".join(f"  {i:>{width}}  {n}" for i, n in enumerate(names, 1))


def pick(text: str, names: Sequence[str]) -> tuple[str | None, list[str]]:
    """What a performer typed at the prompt -> (the name, []) or (None, the candidates).

    A number from the list, a full name, or any part of one that only one name contains
    ("trunc" -> latent/truncation).  Several matches: (None, those names), so the prompt asks
    again with a shorter list; none: (None, [])."""
    text = text.strip()
    if not text:
        return None, []
    if text.isdigit():
        k = int(text)
        return (names[k - 1], []) if 1 <= k <= len(names) else (None, [])
    if text in names:
        return text, []
    hits = [n for n in names if text.lower() in n.lower()]
    return (hits[0], []) if len(hits) == 1 else (None, hits)
