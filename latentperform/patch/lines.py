"""Where each key of a TOML document is written: line numbers for error messages.

`tomllib` parses values but forgets positions, so this module scans the source text once and
records the line of every table header and every `key =` line, keyed by the path the value has
in the parsed document: ("model", "seed"), ("mapping", 2, "curve"), ("inputs", "osc", "port").

It is a scanner, not a parser: the document has already been parsed by tomllib, so the text is
known to be valid TOML.  It only has to skip what could look like a key but is not (the inside of
multi-line strings and arrays).
"""

from __future__ import annotations

import re

Path = tuple  # tuple[str | int, ...]

_BARE_KEY = r'[A-Za-z0-9_-]+|"(?:[^"\\]|\\.)*"|\'[^\']*\''
_DOTTED_KEY = rf"(?:{_BARE_KEY})(?:\s*\.\s*(?:{_BARE_KEY}))*"
_HEADER = re.compile(rf"^\s*(\[\[?)\s*({_DOTTED_KEY})\s*\]\]?")
_KEY_LINE = re.compile(rf"^\s*({_DOTTED_KEY})\s*=")
_KEY_PART = re.compile(_BARE_KEY)


def _split_key(dotted: str) -> tuple[str, ...]:
    parts = []
    for m in _KEY_PART.finditer(dotted):
        p = m.group(0)
        if p[0] in "\"'":
            p = p[1:-1]
        parts.append(p)
    return tuple(parts)


def _bracket_depth_change(line: str) -> tuple[int, str | None]:
    """Net change of [ ] / { } depth over a line, ignoring strings and comments, and whether the
    line leaves a multi-line string open (returns its delimiter)."""
    depth = 0
    i = 0
    n = len(line)
    while i < n:
        c = line[i]
        if c == "#":
            break
        if line.startswith('"""', i) or line.startswith("'''", i):
            delim = line[i:i + 3]
            end = line.find(delim, i + 3)
            if end < 0:
                return depth, delim
            i = end + 3
            continue
        if c == '"':
            i += 1
            while i < n and line[i] != '"':
                i += 2 if line[i] == "\\" else 1
            i += 1
            continue
        if c == "'":
            end = line.find("'", i + 1)
            i = n if end < 0 else end + 1
            continue
        if c in "[{":
            depth += 1
        elif c in "]}":
            depth -= 1
        i += 1
    return depth, None


def key_lines(text: str) -> dict[Path, int]:
    """Map every key path (and every table path) in `text` to its 1-based line number."""
    lines: dict[Path, int] = {}
    array_counts: dict[tuple, int] = {}
    table: tuple = ()
    depth = 0
    open_string: str | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        if open_string is not None:
            if open_string in line:
                rest = line[line.index(open_string) + 3:]
                open_string = None
                change, open_string = _bracket_depth_change(rest)
                depth += change
            continue
        if depth > 0:  # inside a multi-line array or inline table
            change, open_string = _bracket_depth_change(line)
            depth = max(depth + change, 0)
            continue
        header = _HEADER.match(line)
        if header:
            path = _split_key(header.group(2))
            if header.group(1) == "[[":
                index = array_counts.get(path, 0)
                array_counts[path] = index + 1
                # tables nested under an earlier array entry restart their own counts
                for other in [k for k in array_counts if len(k) > len(path) and k[:len(path)] == path]:
                    del array_counts[other]
            table = _with_indices(path, array_counts)
            lines.setdefault(table, number)
            continue
        key = _KEY_LINE.match(line)
        if key:
            path = (*table, *_split_key(key.group(1)))
            lines.setdefault(path, number)
            change, open_string = _bracket_depth_change(line[key.end():])
            depth = max(change, 0)
    return lines


def _with_indices(path: tuple[str, ...], array_counts: dict[tuple, int]) -> tuple:
    """('mapping', 'x') under [[mapping]] entries -> ('mapping', <last index>, 'x')."""
    out: list = []
    for i, part in enumerate(path):
        out.append(part)
        prefix = path[:i + 1]
        if prefix in array_counts:
            out.append(array_counts[prefix] - 1)
    return tuple(out)


def line_of(lines: dict[Path, int], path: Path) -> int | None:
    """The line of `path`, or of its nearest enclosing key or table that has one."""
    p = tuple(path)
    while p:
        if p in lines:
            return lines[p]
        p = p[:-1]
    return None
