"""OSC in and out: datagrams become ControlEvents; engine state goes back to hosts.

Address conventions (what the mapping layer sees):

- A message whose address is a parameter's documented OSC address (`ParamSpec.osc`, e.g.
  `/lp/truncation`) becomes ONE event: `param/<name>` for a continuous parameter (value: the
  float argument; a tuple of floats for multi-argument specs such as `/lp/xy x y`), or
  `trigger/<name>` for a trigger (value: the first argument, or 1.0 when there is none).
  It is not also emitted as `osc/...`: a trigger must fire once, not twice.
- When several continuous specs share one address, argument k goes to the k-th of them, one
  `param/` event each.
- Any other address becomes `osc/<path without the leading slash>` with the numeric arguments
  (a float for one, a tuple for several, 1.0 for none: a "bang"), for the patch's [[mapping]] rules.
- An address under `/lp/` that names no parameter is counted as `unknown` and dropped (a typo in
  the engine's own namespace should be visible, not silently mapped).
- Incoming address patterns (`/lp/direction/*`, `/lp/{freeze,blackout}`, `[0-3]`, `?`) are
  matched against the parameter addresses; every match gets the arguments.  The show's own
  commands (`stage/` parameters: `/lp/record`, `/lp/screenshot`, `/lp/quit`) answer only to their
  exact address: `/lp/*` must not start a recording or quit the show.
- Bundles: every message in order, nested bundles depth first; time tags are ignored (immediate).
- Commands (`COMMANDS`: `/lp/learn <name>`, `/lp/learn/cancel`) are not control events: they
  take string arguments, which a ControlEvent cannot carry, and they act on the show, not on a
  parameter.  The router puts them on its `commands` deque (address, args, time) for the engine
  to pop; exact addresses only (patterns never match a command).

Transport and routing are apart: `OscRouter` turns bytes into events and is tested without a
socket; `OscInput` is the thin UDP layer around it.  The receive thread blocks in `select`
(no sleeping, no polling) and reads with one plain socket, not a thread per datagram.
"""

from __future__ import annotations

import collections
import errno
import logging
import math
import os
import select
import socket
import struct
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from ..config import OSC_HOST, OSC_PORT, UserError
from ..events import ControlEvent, EventQueue, ParamSpec, ParamState
from ..events import coalesce, is_continuous_address  # noqa: F401  (re-exported)

log = logging.getLogger("latentperform.inputs.osc")

_RECV_BUFFER = 8 * 1024 * 1024  # asked for; Linux caps it at net.core.rmem_max
_MAX_DATAGRAM = 65535
_REPORT_EVERY = 5.0  # seconds between two log lines of one kind
RESOLVE_RETRY_S = 30  # seconds between two look-ups of a feedback target that did not resolve


# -- parsing: bytes -> (address, args) -------------------------------------------------------


class OscParseError(ValueError):
    """A datagram that is not valid OSC 1.0/1.1."""


def _read_string(data: bytes, i: int) -> tuple[str, int]:
    end = data.find(b"\x00", i)
    if end < 0:
        raise OscParseError("string without terminating NUL")
    try:
        s = data[i:end].decode("utf-8")
    except UnicodeDecodeError:
        raise OscParseError("string is not UTF-8") from None
    nxt = (end + 4) & ~3  # NUL-terminated, padded to a multiple of 4
    if nxt > len(data):
        raise OscParseError("string padding runs past the end")
    return s, nxt


_FIXED = {"i": (">i", 4), "f": (">f", 4), "h": (">q", 8), "d": (">d", 8), "c": (">I", 4),
          "r": (">I", 4), "m": (">4s", 4), "t": (">Q", 8)}
_NO_DATA = {"T": True, "F": False, "N": None, "I": float("inf")}


def _parse_message(data: bytes) -> tuple[str, list]:
    address, i = _read_string(data, 0)
    if not address.startswith("/"):
        raise OscParseError(f"address must start with '/': {address[:40]!r}")
    if i >= len(data):
        return address, []  # OSC 1.0: a message may omit the type tag string
    tags, i = _read_string(data, i)
    if not tags.startswith(","):
        raise OscParseError("type tag string does not start with ','")
    args: list = []
    stack = [args]
    for tag in tags[1:]:
        if tag in _FIXED:
            fmt, size = _FIXED[tag]
            if i + size > len(data):
                raise OscParseError(f"argument '{tag}' runs past the end")
            (v,) = struct.unpack_from(fmt, data, i)
            i += size
        elif tag in ("s", "S"):
            v, i = _read_string(data, i)
        elif tag == "b":
            if i + 4 > len(data):
                raise OscParseError("blob size runs past the end")
            (n,) = struct.unpack_from(">i", data, i)
            if n < 0 or i + 4 + n > len(data):
                raise OscParseError("blob runs past the end")
            v = data[i + 4:i + 4 + n]
            i += 4 + ((n + 3) & ~3)
        elif tag in _NO_DATA:
            v = _NO_DATA[tag]
        elif tag == "[":
            inner: list = []
            stack[-1].append(inner)
            stack.append(inner)
            continue
        elif tag == "]":
            if len(stack) < 2:
                raise OscParseError("']' without '['")
            stack.pop()
            continue
        else:
            raise OscParseError(f"unknown type tag {tag!r}")
        stack[-1].append(v)
    if len(stack) != 1:
        raise OscParseError("'[' without ']'")
    return address, args


def parse_packet(data: bytes, _depth: int = 0) -> list[tuple[str, list]]:
    """Every message in a datagram, in order (bundles flattened depth first, time tags ignored).

    Raises OscParseError for anything malformed; a bad element spoils the whole bundle, so a
    host never sees half of a bundle applied.
    """
    if data.startswith(b"#bundle\x00"):
        if _depth > 8:
            raise OscParseError("bundles nested too deep")
        if len(data) < 16:
            raise OscParseError("bundle without a time tag")
        out: list[tuple[str, list]] = []
        i = 16
        while i < len(data):
            if i + 4 > len(data):
                raise OscParseError("bundle element size runs past the end")
            (n,) = struct.unpack_from(">i", data, i)
            if n <= 0 or n % 4 or i + 4 + n > len(data):
                raise OscParseError("bad bundle element size")
            out.extend(parse_packet(data[i + 4:i + 4 + n], _depth + 1))
            i += 4 + n
        return out
    if not data.startswith(b"/"):
        raise OscParseError("neither a message nor a bundle")
    if len(data) % 4:
        raise OscParseError("size is not a multiple of 4")
    return [_parse_message(data)]


# -- address patterns ---------------------------------------------------------------------------
#
# A pattern is matched segment by segment ('/' is never matched by a wildcard), each segment by a
# bit-parallel NFA (shift-and): one big-int step per character of the address, whatever the stars
# do, so no pattern can make matching backtrack.  (A regex of `[^/]*` per star, which python-osc's
# dispatcher also builds, takes seconds for 22 stars against an address it does not match.)
# Braces are expanded first, at most MAX_PATTERN_CHOICES alternatives; a pattern longer than
# MAX_PATTERN_LEN characters is refused.  Either is reported as malformed.

_PATTERN_CHARS = set("*?[]{}")
MAX_PATTERN_LEN = 256
MAX_PATTERN_CHOICES = 32
EXACT_ONLY = ("stage/",)  # show commands (record, screenshot, quit): their exact address only, never a pattern
PATTERN_BUDGET_S = 0.05  # seconds a second the router may spend matching patterns it has not cached


def _expand_braces(segment: str) -> list[str]:
    """'/a{b,c}d' -> ['/abd', '/acd'] (no nesting, as OSC 1.0 has none)."""
    out = [""]
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "{":
            j = segment.find("}", i)
            if j < 0:
                raise OscParseError("'{' without '}' in address pattern")
            choices = segment[i + 1:j].split(",")
            if len(out) * len(choices) > MAX_PATTERN_CHOICES:
                raise OscParseError(f"address pattern has more than {MAX_PATTERN_CHOICES} alternatives")
            out = [o + ch for o in out for ch in choices]
            i = j + 1
        elif c == "}":
            raise OscParseError("'}' without '{' in address pattern")
        else:
            j = i + 1
            while j < len(segment) and segment[j] not in "{}":
                j += 1
            out = [o + segment[i:j] for o in out]
            i = j
    return out


def _tokens(segment: str) -> list:
    """A brace-free segment -> tokens: None for '*' (runs of stars are one), else a predicate
    on one character."""
    toks: list = []
    i = 0
    while i < len(segment):
        c = segment[i]
        if c == "*":
            if not toks or toks[-1] is not None:
                toks.append(None)
        elif c == "?":
            toks.append(lambda ch: True)
        elif c == "[":
            j = segment.find("]", i + 1)
            if j < 0:
                raise OscParseError("'[' without ']' in address pattern")
            body = segment[i + 1:j]
            neg = body.startswith("!")
            body = body[1:] if neg else body
            chars, ranges = set(), []
            k = 0
            while k < len(body):
                if k + 2 < len(body) and body[k + 1] == "-":
                    ranges.append((body[k], body[k + 2]))
                    k += 3
                else:
                    chars.add(body[k])
                    k += 1
            toks.append(lambda ch, chars=frozenset(chars), ranges=tuple(ranges), neg=neg:
                        (ch in chars or any(a <= ch <= b for a, b in ranges)) != neg)
            i = j
        elif c == "]":
            raise OscParseError("']' without '[' in address pattern")
        else:
            toks.append(lambda ch, c=c: ch == c)
        i += 1
    return toks


class _SegmentMatcher:
    """One brace-free pattern segment as a shift-and automaton.  State bit i: the first i
    tokens have matched; a star's bit stays set on any character and passes on to the next bit
    without consuming one."""

    def __init__(self, segment: str) -> None:
        toks = _tokens(segment)
        self._toks = toks
        self._accept = 1 << len(toks)
        self._stars = sum(1 << i for i, t in enumerate(toks) if t is None)
        self._masks: dict[str, int] = {}

    def _closure(self, d: int) -> int:
        return d | ((d & self._stars) << 1)  # runs of stars were merged: one step is enough

    def _mask(self, ch: str) -> int:
        m = self._masks.get(ch)
        if m is None:
            m = sum(1 << i for i, t in enumerate(self._toks) if t is not None and t(ch))
            if len(self._masks) < 256:
                self._masks[ch] = m
        return m

    def match(self, text: str) -> bool:
        d = self._closure(1)
        stars = self._stars
        for ch in text:
            d = self._closure(((d & self._mask(ch)) << 1) | (d & stars))
            if not d:
                return False
        return bool(d & self._accept)


class AddressPattern:
    """An OSC 1.0 address pattern (`*`, `?`, `[a-z]`, `[!0-3]`, `{a,b}`) compiled once; `match`
    takes time linear in the address's length.  Raises OscParseError for a malformed or
    over-long pattern."""

    def __init__(self, pattern: str) -> None:
        if len(pattern) > MAX_PATTERN_LEN:
            raise OscParseError(f"address pattern longer than {MAX_PATTERN_LEN} characters")
        self.pattern = pattern
        # one list of segment matchers per brace alternative ({a,b/c} may hold a '/')
        self._choices = [[_SegmentMatcher(seg) for seg in alt.split("/")] for alt in _expand_braces(pattern)]

    def match(self, address: str) -> bool:
        parts = address.split("/")
        return any(len(parts) == len(segs) and all(m.match(part) for m, part in zip(segs, parts))
                   for segs in self._choices)


# -- commands: messages that act on the show (string arguments) -----------------------------------


@dataclass(frozen=True)
class OscCommand:
    """An address that is a command rather than a parameter.  args: "s" one string (optional
    when `optional`), "sf" one string and an optional number, "" none (numbers are tolerated:
    a TouchOSC button sends 1 then 0)."""

    address: str
    args: str
    doc: str
    optional: bool = False


COMMANDS = (
    OscCommand("/lp/learn", "s", "learn mode: arm it for a parameter, by name (`latent/truncation`, "
               "`latent/xy`) or by its address (`/lp/truncation`); without an argument, for the parameter "
               "changed last over OSC or by a mapping (sent again while armed: cancel). The next MIDI "
               "control moved on purpose, or the first message to an OSC address outside `/lp/`, becomes "
               "that parameter's mapping: written into the patch file and live at once. A two-value "
               "parameter takes an XY pad's two values at once, or one control per part, in turn. "
               "`/lp/learn/status` says what it replaced",
               optional=True),
    OscCommand("/lp/learn/cancel", "", "leave learn mode without mapping anything"),
    OscCommand("/lp/scene/recall", "sf", "recall a scene of the control room by name, a cut, or a morph over the "
               "seconds given (shows with the control room; scenes are saved on its page)"),
    OscCommand("/lp/learn/undo", "", "undo the last learn: the patch file and the live show go back to "
               "before it (refused when the file was edited since)"),
    OscCommand("/lp/state", "", "send the full state to the feedback targets now: every /lp/param/, "
               "tempo, beat, keyframe, and every OSC-mapped control's value (for a host that reconnects)"),
)


@dataclass(frozen=True)
class CommandMessage:
    address: str
    args: tuple
    time: float


# -- routing: (address, args) -> events ---------------------------------------------------------


def _short(address: str, limit: int = 80) -> str:
    """An address fit for a log line: a 60 KB address is cut, and says how long it was."""
    if len(address) <= limit:
        return repr(address)
    return f"{address[:limit]!r}... ({len(address)} characters)"


def _number(a) -> float | None:
    """An argument as a float, or None when it is not a finite number (strings, blobs, NaN,
    infinity: none of them may reach a parameter)."""
    if isinstance(a, bool):
        return 1.0 if a else 0.0
    if isinstance(a, (int, float)):
        v = float(a)
        return v if math.isfinite(v) else None
    return None


class _RateLimitedLog:
    """At most one log line per address (or, without one, per kind) every few seconds, saying
    how many were not logged; a different bad address within the window is still told.  The
    lines told also wait on `problems` for the show's overlay (`OscInput.pop_problems`).  Past
    `max_keys` addresses in one window (a flood of random ones) it falls back to one per kind."""

    def __init__(self, logger: logging.Logger, every: float = _REPORT_EVERY, max_keys: int = 64) -> None:
        self._log = logger
        self._every = every
        self._max_keys = max_keys
        self._last: dict[tuple, float] = {}
        self._quiet: dict[tuple, int] = {}
        self.problems: collections.deque[str] = collections.deque(maxlen=32)

    def __call__(self, kind: str, message: str, key: str | None = None) -> None:
        now = time.monotonic()
        slot = (kind, key)
        if key is not None and slot not in self._last and len(self._last) >= self._max_keys:
            for old in [k for k, t in self._last.items() if now - t >= self._every and k not in self._quiet]:
                del self._last[old]
            if len(self._last) >= self._max_keys:
                slot = (kind, None)
        if now - self._last.get(slot, -1e9) >= self._every:
            skipped = self._quiet.pop(slot, 0)
            more = f" (and {skipped} more since the last report)" if skipped else ""
            self._log.warning("OSC %s: %s%s", kind, message, more)
            self.problems.append(f"OSC: {message}{more}")
            self._last[slot] = now
        else:
            self._quiet[slot] = self._quiet.get(slot, 0) + 1


class OscRouter:
    """Pure routing: datagram bytes -> ControlEvents, with counters.  No socket, no thread.

    stats: datagrams, received (messages), events, bundles, malformed, bad_args, unknown, commands,
    over_budget (new address patterns dropped because matching them would pass PATTERN_BUDGET_S a
    second).
    `commands`: the `OscCommand`s it answers to; the messages wait on `self.commands` (a deque:
    the receive thread appends, the engine pops from the left).
    """

    def __init__(self, specs: Iterable[ParamSpec] = (), *, namespace: str = "/lp/",
                 report: Callable[[str, str], None] | None = None,
                 commands: Iterable[OscCommand] = ()) -> None:
        self.namespace = namespace
        self._commands = {c.address: c for c in commands}
        self.commands: collections.deque[CommandMessage] = collections.deque(maxlen=256)
        # `specs`: a fixed list, or the show's ParamRegistry (it has `snapshot()`), which is read
        # again whenever its version moves: a reloaded patch's new parameters answer at once
        self._registry = specs if hasattr(specs, "snapshot") else None
        self._registry_version: int | None = None
        self._by_address: dict[str, list[ParamSpec]] = {}
        if self._registry is None:
            for s in specs:
                if s.osc:
                    self._by_address.setdefault(s.osc, []).append(s)
        self._pattern_cache: dict[str, list[str]] = {}
        self._budget_since, self._budget_spent = -1e9, 0.0
        self._report = report or _RateLimitedLog(log)
        self.stats = {"datagrams": 0, "received": 0, "events": 0, "bundles": 0,
                      "malformed": 0, "bad_args": 0, "unknown": 0, "commands": 0,
                      "over_budget": 0}

    def _table(self) -> dict[str, list[ParamSpec]]:
        if self._registry is not None:
            version, _, by_osc = self._registry.snapshot()
            if version != self._registry_version:
                self._by_address = {a: list(specs) for a, specs in by_osc.items()}
                self._pattern_cache = {}
                self._registry_version = version
        return self._by_address

    @property
    def addresses(self) -> list[str]:
        return sorted(self._table())

    def route_datagram(self, data: bytes, t: float) -> list[ControlEvent]:
        self.stats["datagrams"] += 1
        try:
            messages = parse_packet(data)
        except (OscParseError, struct.error, ValueError, IndexError) as e:
            self.stats["malformed"] += 1
            self._report("malformed", f"dropped a datagram of {len(data)} bytes: {e}")
            return []
        if data.startswith(b"#bundle"):
            self.stats["bundles"] += 1
        events: list[ControlEvent] = []
        for address, args in messages:
            events.extend(self.route_message(address, args, t))
        return events

    def route_message(self, address: str, args: Sequence, t: float) -> list[ControlEvent]:
        self.stats["received"] += 1
        command = self._commands.get(address)
        if command is not None:
            return self._command(command, args, t)
        specs = self._table().get(address)
        if specs is None and _PATTERN_CHARS.intersection(address):
            matched = self._match(address)
            if matched is None:
                return []
            if matched:
                out: list[ControlEvent] = []
                for a in matched:
                    out.extend(self._to_params(a, self._by_address[a], args, t))
                return out
        if specs is not None:
            return self._to_params(address, specs, args, t)
        if address.startswith(self.namespace):
            self.stats["unknown"] += 1
            self._report("unknown", f"no parameter answers to {_short(address)} (see docs/osc.md)",
                         key=address[:200])
            return []
        values = [_number(a) for a in args]
        if any(v is None for v in values):
            return self._bad(address, args, "numbers (int, float, true/false)")
        value = 1.0 if not values else values[0] if len(values) == 1 else tuple(values)
        return self._emit([ControlEvent("osc", "osc" + address, value, t)])

    def _command(self, command: OscCommand, args: Sequence, t: float) -> list[ControlEvent]:
        if command.args == "s":
            ok = (len(args) == 1 and isinstance(args[0], str) and args[0].strip()) or (command.optional and not args)
            if not ok:
                want = "one string" + (" or nothing" if command.optional else "")
                return self._bad(command.address, args, want)
            args = tuple(a.strip() for a in args)
        elif command.args == "sf":
            ok = (1 <= len(args) <= 2 and isinstance(args[0], str) and args[0].strip()
                  and (len(args) == 1 or _number(args[1]) is not None))
            if not ok:
                return self._bad(command.address, args, "a string and an optional number")
            args = (args[0].strip(), *(float(_number(a)) for a in args[1:]))
        else:  # buttons send numbers: accepted, not passed on
            if any(_number(a) is None for a in args):
                return self._bad(command.address, args, "no arguments")
            args = ()
        self.stats["commands"] += 1
        self.commands.append(CommandMessage(command.address, tuple(args), t))
        return []

    def _match(self, pattern: str) -> list[str] | None:
        hit = self._pattern_cache.get(pattern)
        if hit is None:
            now = time.monotonic()
            if now - self._budget_since >= 1.0:
                self._budget_since, self._budget_spent = now, 0.0
            if self._budget_spent >= PATTERN_BUDGET_S:  # a flood of new patterns: drop, do not stall
                self.stats["over_budget"] += 1
                self._report("over_budget", f"more new address patterns than {PATTERN_BUDGET_S * 1e3:.0f} ms "
                                            f"of matching a second; dropped {_short(pattern)}")
                return None
            try:
                compiled = AddressPattern(pattern)
            except OscParseError as e:
                self.stats["malformed"] += 1
                self._report("malformed", f"{_short(pattern)}: {e}")
                return None
            hit = [a for a, specs in self._by_address.items()
                   if not all(sp.name.startswith(EXACT_ONLY) for sp in specs) and compiled.match(a)]
            self._budget_spent += time.monotonic() - now
            if len(self._pattern_cache) < 1024:
                self._pattern_cache[pattern] = hit
        return hit

    def _to_params(self, address: str, specs: list[ParamSpec], args: Sequence, t: float) -> list[ControlEvent]:
        values = [_number(a) for a in args]
        if any(v is None for v in values):
            return self._bad(address, args, _expected(specs))
        first = specs[0]
        if first.kind == "trigger":
            want = len(first.args)
            if len(values) > max(want, 1):
                return self._bad(address, args, _expected(specs))
            v = values[0] if values else 1.0
            return self._emit([ControlEvent("osc", f"trigger/{s.name}", v, t) for s in specs])
        if len(specs) > 1:  # one argument per spec sharing this address
            if len(values) != len(specs):
                return self._bad(address, args, _expected(specs))
            return self._emit([ControlEvent("osc", f"param/{s.name}", v, t) for s, v in zip(specs, values)])
        want = max(len(first.args), 1)
        if len(values) != want:
            return self._bad(address, args, _expected(specs))
        value = values[0] if want == 1 else tuple(values)
        return self._emit([ControlEvent("osc", f"param/{first.name}", value, t)])

    def _emit(self, events: list[ControlEvent]) -> list[ControlEvent]:
        self.stats["events"] += len(events)
        return events

    def _bad(self, address: str, args: Sequence, expected: str) -> list[ControlEvent]:
        self.stats["bad_args"] += 1
        got = ", ".join(type(a).__name__ for a in args) or "no arguments"
        self._report("bad_args", f"{_short(address)}: expected {expected}, got {got[:200]}", key=address[:200])
        return []


def _expected(specs: list[ParamSpec]) -> str:
    s = specs[0]
    if s.kind == "trigger":
        return "no argument or one number" if not s.args else f"{len(s.args)} number(s)"
    n = len(specs) if len(specs) > 1 else max(len(s.args), 1)
    return f"{n} number{'s' if n > 1 else ''}"


# coalescing (`coalesce`, `is_continuous_address`) lives in events.py: every source's events go
# through it in the engine's input door; imported here for the callers that knew it here.


# -- transport: the UDP server --------------------------------------------------------------------


class OscInput:
    """Listens for OSC on UDP and puts ControlEvents on `queue`; see the module docstring.

    Binds 127.0.0.1 unless another host is asked for; binding every interface logs a warning.
    Raises UserError when the port cannot be bound.  `close()` stops the thread and frees the port.
    """

    def __init__(self, queue: EventQueue, clock, host: str = OSC_HOST, port: int = OSC_PORT,
                 specs: Iterable[ParamSpec] = (), *, namespace: str = "/lp/",
                 commands: Iterable[OscCommand] = ()) -> None:
        self.queue = queue
        self.clock = clock
        self.router = OscRouter(specs, namespace=namespace, commands=commands)
        if host in ("0.0.0.0", "", "::"):
            log.warning("OSC: listening on every network interface (%s:%d): anyone on the network "
                        "can drive the show", host or "0.0.0.0", port)
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECV_BUFFER)
            sock.bind((host, port))
        except (OSError, OverflowError) as e:
            sock.close()
            why = ("already in use (another engine or host?)" if getattr(e, "errno", None) == errno.EADDRINUSE
                   else getattr(e, "strerror", None) or str(e))
            raise UserError(f"OSC: cannot listen on {host}:{port}: {why}") from None
        sock.setblocking(False)
        self.receive_buffer = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        self._sock = sock
        self.host, self.port = sock.getsockname()[:2]
        self._wake_r, self._wake_w = socket.socketpair()
        self._final_drops = -1
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"osc-in:{self.port}", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> dict[str, int]:
        """The router's counters, and `dropped_by_os`: datagrams the kernel dropped because the
        receive buffer was full (a flood faster than the listener), -1 where it cannot be read."""
        out = dict(self.router.stats)
        out["dropped_by_os"] = self.os_drops()
        return out

    def os_drops(self) -> int:
        """The kernel's drop counter of this socket (Linux /proc/net/udp, matched by inode); after
        close, the last count read."""
        if self._closed.is_set():
            return self._final_drops
        try:
            inode = str(os.fstat(self._sock.fileno()).st_ino)
            table = "/proc/net/udp6" if self._sock.family == socket.AF_INET6 else "/proc/net/udp"
            with open(table) as f:
                for line in f:
                    cols = line.split()
                    if len(cols) >= 13 and cols[9] == inode:
                        return int(cols[-1])
        except (OSError, ValueError):
            pass
        return -1

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def pop_problems(self) -> list[str]:
        """Problem lines told since the last call (unknown addresses, bad arguments, malformed
        datagrams: rate-limited per address), oldest first, for the show's overlay."""
        dq = getattr(self.router._report, "problems", None)
        out = []
        while dq:
            try:
                out.append(dq.popleft())
            except IndexError:
                break
        return out

    def pop_commands(self) -> list[CommandMessage]:
        """Command messages received since the last call, oldest first (never blocks)."""
        out = []
        dq = self.router.commands
        while True:
            try:
                out.append(dq.popleft())
            except IndexError:
                return out

    def _run(self) -> None:
        sock, wake, router, queue, clock = self._sock, self._wake_r, self.router, self.queue, self.clock
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([sock, wake], [], [])
            except (OSError, ValueError):
                break
            if wake in ready:
                break
            while True:  # drain everything queued in the kernel before blocking again
                try:
                    data = sock.recv(_MAX_DATAGRAM)
                except (BlockingIOError, InterruptedError):
                    break
                except OSError as e:
                    if self._closed.is_set():
                        return
                    router._report("socket", f"receive failed: {e}")
                    break
                try:
                    for event in router.route_datagram(data, clock.now()):
                        queue.put(event)
                except Exception as e:  # a routing bug must not kill the listener
                    router.stats["malformed"] += 1
                    router._report("internal", f"{e!r} while routing a datagram")

    def close(self) -> None:
        if self._closed.is_set():
            return
        self._final_drops = self.os_drops()
        self._closed.set()
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass
        self._thread.join(2.0)
        for s in (self._sock, self._wake_r, self._wake_w):
            s.close()

    def __enter__(self) -> "OscInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# -- OSC out: state feedback --------------------------------------------------------------------


def _osc_string(s: str) -> bytes:
    b = s.encode("utf-8") + b"\x00"
    return b + b"\x00" * (-len(b) % 4)


def encode_message(address: str, *args) -> bytes:
    """One OSC message: ints as 'i', floats as 'f', strings as 's'."""
    tags, payload = [","], []
    for a in args:
        if isinstance(a, bool) or isinstance(a, int):
            tags.append("i")
            payload.append(struct.pack(">i", int(a)))
        elif isinstance(a, float):
            tags.append("f")
            payload.append(struct.pack(">f", a))
        else:
            tags.append("s")
            payload.append(_osc_string(str(a)))
    return _osc_string(address) + _osc_string("".join(tags)) + b"".join(payload)


def _parse_target(target) -> tuple[str, int]:
    if isinstance(target, str):
        host, _, port = target.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"OSC target {target!r}: expected HOST:PORT, e.g. 127.0.0.1:9001")
        return host, int(port)
    if isinstance(target, dict):
        return str(target.get("host", OSC_HOST)), int(target["port"])
    host, port = target
    return str(host), int(port)


class OscFeedback:
    """Sends the engine's state to OSC hosts (TouchDesigner, Max, TouchOSC) once per tick.

    Messages:
      /lp/beat i               the beat number, on each new beat
      /lp/tempo f              bpm, when it changes
      /lp/fps f                at most once a second
      /lp/keyframe/current i   when it changes (extra["keyframe"], or the parameter
                               "latent/keyframe/current")
      /lp/param/<name> f       each parameter whose value changed, at most `max_params_per_tick`
                               per tick: the rest wait (latest value) for the next ticks
      /lp/error s              `send_error`
      /lp/learn/status s       `send_learn_status`: learn mode's state, when it changes
      <the control's address>  `send_controls`: two-way OSC, each OSC-mapped control gets its
                               parameter back in its own units (TouchOSC faders and toggles
                               follow the show), on change
    A two-value parameter (latent/xy) is not sent as one meaningless /lp/param/latent/xy: its
    parts (latent/xy/x, latent/xy/y) are.  `resend()` forgets what was sent, so the next tick
    sends the full state (a host that reconnects asks with /lp/state).
    """

    def __init__(self, targets: Iterable, *, max_params_per_tick: int = 64,
                 fps_every: float = 1.0) -> None:
        self.targets = [_parse_target(t) for t in targets]
        # name -> address, resolved on a thread of its own: a slow or dead DNS never holds up a
        # tick (a target is skipped until it resolves; a failure is logged once, retried later)
        self._resolved: dict[tuple[str, int], tuple[str, int]] = {}
        self._unresolved = [t for t in self.targets if not self._numeric(t)]
        self._resolve_closed = threading.Event()
        if self._unresolved:
            threading.Thread(target=self._resolve_loop, name="osc-feedback-dns", daemon=True).start()
        self.max_params_per_tick = max_params_per_tick
        self.fps_every = fps_every
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)  # "255.255.255.255:9001" works
        self._sent: dict[str, float] = {}
        self._pending: dict[str, float] = {}
        self._beat: int | None = None
        self._tempo: float | None = None
        self._keyframe: int | None = None
        self._fps_at = -1e9
        self._controls: dict[str, tuple[float, ...]] = {}
        self.stats = {"sent": 0, "errors": 0, "unresolved": 0}

    def _numeric(self, target: tuple[str, int]) -> bool:
        try:
            socket.inet_pton(socket.AF_INET, target[0])
        except OSError:
            return False
        self._resolved[target] = target
        return True

    def _resolve_loop(self) -> None:
        reported: set = set()
        while self._unresolved and not self._resolve_closed.is_set():
            for target in list(self._unresolved):
                try:
                    info = socket.getaddrinfo(target[0], target[1], socket.AF_INET, socket.SOCK_DGRAM)
                    self._resolved[target] = info[0][4][:2]
                    self._unresolved.remove(target)
                except (OSError, UnicodeError) as e:
                    if target not in reported:
                        reported.add(target)
                        log.warning("OSC feedback: cannot resolve %s (%s); trying again every %d s",
                                    target[0][:80], e, RESOLVE_RETRY_S)
            self._resolve_closed.wait(RESOLVE_RETRY_S)

    def _send(self, data: bytes) -> None:
        for target in self.targets:
            address = self._resolved.get(target)
            if address is None:  # not resolved (yet): skipped, never looked up here
                self.stats["unresolved"] += 1
                continue
            try:
                self._sock.sendto(data, address)
                self.stats["sent"] += 1
            except OSError:  # a host that is not listening must not stop the show
                self.stats["errors"] += 1

    def send(self, address: str, *args) -> None:
        self._send(encode_message(address, *args))

    def send_state(self, params: ParamState, extra: dict | None = None) -> None:
        extra = extra or {}
        beat = int(params.beat // 1)
        if beat != self._beat:
            self._beat = beat
            self.send("/lp/beat", beat)
        if self._tempo is None or abs(params.tempo - self._tempo) > 1e-3:
            self._tempo = float(params.tempo)
            self.send("/lp/tempo", self._tempo)
        now = time.monotonic()
        if "fps" in extra and now - self._fps_at >= self.fps_every:
            self._fps_at = now
            self.send("/lp/fps", float(extra["fps"]))
        kf = extra.get("keyframe", params.values.get("latent/keyframe/current"))
        if kf is not None and int(kf) != self._keyframe:
            self._keyframe = int(kf)
            self.send("/lp/keyframe/current", self._keyframe)
        values = params.values
        for name, value in values.items():
            if f"{name}/x" in values and f"{name}/y" in values:
                continue   # a vector's own name carries no value: its parts are sent
            old = self._sent.get(name)
            if old is None or abs(value - old) > 1e-6:
                self._pending[name] = float(value)
            else:
                self._pending.pop(name, None)
        for name in list(self._pending)[:self.max_params_per_tick]:
            value = self._pending.pop(name)
            self._sent[name] = value
            self.send(f"/lp/param/{name}", value)

    def send_controls(self, values: dict[str, tuple[float, ...]], skip: Iterable[str] = ()) -> int:
        """Send each control address its values when they changed since last sent (addresses
        in `skip`, moved by hand just now, wait: echo hold-off).  Returns how many were sent."""
        skip = set(skip)
        sent = 0
        for address, args in values.items():
            if address in skip:
                continue
            old = self._controls.get(address)
            if old is not None and len(old) == len(args) and all(abs(a - b) <= 1e-6 for a, b in zip(old, args)):
                continue
            self._controls[address] = tuple(args)
            self.send(address, *[float(a) for a in args])
            sent += 1
        return sent

    def resend(self) -> None:
        """Forget what was sent: the next `send_state` / `send_controls` send everything."""
        self._sent.clear()
        self._pending.clear()
        self._controls.clear()
        self._beat = self._tempo = self._keyframe = None
        self._fps_at = -1e9

    def send_error(self, message: str) -> None:
        self.send("/lp/error", str(message))

    def send_learn_status(self, status: str) -> None:
        self.send("/lp/learn/status", str(status))

    def close(self) -> None:
        self._resolve_closed.set()
        self._sock.close()


# -- the input kind's face (inputs/kinds.py) -------------------------------------------------------

LABEL = "OSC"


def list_devices() -> list[str]:
    return [f"UDP, listening on {OSC_HOST}:{OSC_PORT} unless the patch's [inputs.osc] host/port say otherwise"]


def open_inputs(section, queue: EventQueue, clock, *, host: str | None = None, port: int | None = None,
                specs: Iterable[ParamSpec] = (), commands: Iterable[OscCommand] = COMMANDS) -> list:
    """The OSC server of the patch's [inputs.osc] (host/port override it); raises UserError
    when the port cannot be bound."""
    host = host or section.host
    port = section.port if port is None else port
    return [OscInput(queue, clock, host=host, port=port, specs=specs, commands=commands)]
