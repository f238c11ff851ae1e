"""Typed, position-aware reading of a parsed TOML table, collecting every problem found.

`Reader` wraps one table (a dict from tomllib) with its key path and the document's line index;
its getters check type and range, return the value (or the default when it is wrong, so reading
carries on and every error in the file is reported at once), and remember which keys were read so
`finish()` can call the rest unknown, with a did-you-mean suggestion.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Sequence

from ..config import UserError
from .lines import line_of


class PatchError(UserError):
    """An invalid patch.  `errors` holds every problem, one line each:
    `patches/x.toml:23: mapping[2].curve: expected one of "lin", "exp", got "foo"`."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


def format_path(path: tuple) -> str:
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def show(value: Any) -> str:
    """A value as the artist wrote it in TOML."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return str(value)


def type_name(value: Any) -> str:
    if isinstance(value, bool):
        return f"{show(value)} (a boolean)"
    if isinstance(value, int):
        return f"{value} (an integer)"
    if isinstance(value, float):
        return f"{value} (a number)"
    if isinstance(value, str):
        return f"{show(value)} (a string)"
    if isinstance(value, (list, tuple)):
        return f"{show(value)} (an array)"
    if isinstance(value, dict):
        return "a table"
    return type(value).__name__


def suggest(word: str, choices: Sequence[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f'; did you mean "{close[0]}"?' if close else ""


class Context:
    """What every reader of one document shares: the file name, the line index, the errors."""

    def __init__(self, filename: str | None, lines: dict | None, base_dir: Path | None) -> None:
        self.filename = filename
        self.lines = lines or {}
        self.base_dir = base_dir
        self.errors: list[str] = []

    def error(self, path: tuple, message: str) -> None:
        where = ""
        if self.filename:
            line = line_of(self.lines, path)
            where = f"{self.filename}:{line}: " if line else f"{self.filename}: "
        key = format_path(path)
        self.errors.append(f"{where}{key}: {message}" if key else f"{where}{message}")

    def raise_if_errors(self) -> None:
        if self.errors:
            raise PatchError(self.errors)


_MISSING = object()


class Reader:
    def __init__(self, table: Any, path: tuple, ctx: Context) -> None:
        self.path = path
        self.ctx = ctx
        if not isinstance(table, dict):
            ctx.error(path, f"expected a table, got {type_name(table)}")
            table = {}
        self.table = table
        self.read: set[str] = set()

    # -- basics -------------------------------------------------------------------------------

    def has(self, key: str) -> bool:
        return key in self.table

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        self.read.add(key)
        return self.table.get(key, default)

    def error(self, key: str | None, message: str) -> None:
        self.ctx.error(self.path + ((key,) if key is not None else ()), message)

    def child(self, key: str) -> "Reader":
        self.read.add(key)
        return Reader(self.table.get(key, {}), self.path + (key,), self.ctx)

    def finish(self) -> None:
        allowed = sorted(self.read)
        for key in self.table:
            if key not in self.read:
                self.ctx.error(self.path + (key,), "unknown key" + suggest(key, allowed))

    # -- typed getters --------------------------------------------------------------------------

    def string(self, key: str, default: Any = None, *, choices: Sequence[str] | None = None) -> Any:
        v = self.raw(key)
        if v is _MISSING:
            return default
        if not isinstance(v, str):
            self.error(key, f"expected a string, got {type_name(v)}")
            return default
        if choices is not None and v not in choices:
            self.error(key, "expected one of " + ", ".join(show(c) for c in choices) + f", got {show(v)}"
                       + suggest(v, choices))
            return default
        return v

    def boolean(self, key: str, default: Any = None) -> Any:
        v = self.raw(key)
        if v is _MISSING:
            return default
        if not isinstance(v, bool):
            self.error(key, f"expected true or false, got {type_name(v)}")
            return default
        return v

    def integer(self, key: str, default: Any = None, *, lo: int | None = None, hi: int | None = None) -> Any:
        v = self.raw(key)
        if v is _MISSING:
            return default
        return self.check_int(key, v, default, lo, hi)

    def check_int(self, key: Any, v: Any, default: Any, lo: int | None, hi: int | None,
                  where: tuple | None = None) -> Any:
        path = where if where is not None else self.path + (key,)
        if isinstance(v, bool) or not isinstance(v, int):
            self.ctx.error(path, f"expected an integer, got {type_name(v)}")
            return default
        if not _in_range(v, lo, hi):
            self.ctx.error(path, f"expected an integer {_range_text(lo, hi)}, got {v}")
            return default
        return v

    def number(self, key: str, default: Any = None, *, lo: float | None = None, hi: float | None = None,
               lo_open: bool = False) -> Any:
        v = self.raw(key)
        if v is _MISSING:
            return default
        return self.check_number(self.path + (key,), v, default, lo, hi, lo_open)

    def check_number(self, path: tuple, v: Any, default: Any, lo: float | None, hi: float | None,
                     lo_open: bool = False) -> Any:
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            self.ctx.error(path, f"expected a number, got {type_name(v)}")
            return default
        v = float(v)
        if v != v or v in (float("inf"), float("-inf")):
            self.ctx.error(path, f"expected a finite number, got {v}")
            return default
        if not _in_range(v, lo, hi) or (lo_open and lo is not None and v <= lo):
            self.ctx.error(path, f"expected a number {_range_text(lo, hi, lo_open)}, got {_num(v)}")
            return default
        return v

    def pair(self, key: str, default: Any = None, *, integer: bool = False, lo: float | None = None,
             hi: float | None = None) -> Any:
        """A two-element array of numbers, e.g. range = [0.0, 1.0] or size = [1280, 720]."""
        v = self.raw(key)
        if v is _MISSING:
            return default
        kind = "integers" if integer else "numbers"
        if not isinstance(v, list) or len(v) != 2:
            self.error(key, f"expected an array of two {kind}, got {type_name(v)}")
            return default
        out = []
        for item in v:
            if integer:
                item = self.check_int(key, item, None, lo, hi)
            else:
                item = self.check_number(self.path + (key,), item, None, lo, hi)
            if item is None:
                return default
            out.append(item)
        return tuple(out)

    def strings(self, key: str, default: Any = (), *, allow_single: bool = False) -> Any:
        """An array of strings (or one string, when allow_single) -> tuple[str, ...]."""
        v = self.raw(key)
        if v is _MISSING:
            return default
        if allow_single and isinstance(v, str):
            return (v,)
        if not isinstance(v, list) or not all(isinstance(x, str) for x in v):
            single = " or a string" if allow_single else ""
            self.error(key, f"expected an array of strings{single}, got {type_name(v)}")
            return default
        return tuple(v)


def _in_range(v: float, lo: float | None, hi: float | None) -> bool:
    return (lo is None or v >= lo) and (hi is None or v <= hi)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() and abs(v) < 1e15 else repr(float(v))


def _range_text(lo: float | None, hi: float | None, lo_open: bool = False) -> str:
    if lo is not None and hi is not None:
        return f"from {_num(lo)} to {_num(hi)}" if not lo_open else f"above {_num(lo)} and at most {_num(hi)}"
    if lo is not None:
        return f"above {_num(lo)}" if lo_open else f"of at least {_num(lo)}"
    if hi is not None:
        return f"of at most {_num(hi)}"
    return ""
