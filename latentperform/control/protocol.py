"""The control room's messages: what a page may send, checked and turned into control events.

The page speaks JSON over one WebSocket.  Everything that moves the show becomes a
`ControlEvent` on the control room's queue, exactly like an OSC message would:

    {"t": "set",  "name": "latent/speed", "value": 0.4}   -> param/latent/speed 0.4
    {"t": "fire", "name": "latent/keyframe", "arg": 2}    -> trigger/latent/keyframe 2.0

What acts on the show rather than on a parameter (scenes, MIDI learn, keyframe edits) becomes a
`Command` that the show's control part takes on its tick; a recall then reaches the mapper as
`param/` events too (see scenes.SceneMorph), so an event log replays it.

Server -> page (JSON text frames unless said):
    {"t": "hello", "specs": [...], "scenes": [...], "atlas": bool, "version": 1}
    {"t": "state", ...}            the newest snapshot, coalesced (latest wins per client)
    {"t": "scenes", "scenes": [...]}
    {"t": "error", "text": ...}    a message of this page that was refused
    binary                         one preview picture, JPEG
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Mapping

from ..events import ControlEvent, ParamSpec

VERSION = 1
SOURCE = "control"
MAX_MESSAGE = 16 * 1024
COMMANDS = ("scene/save", "scene/recall", "scene/delete", "learn", "learn/cancel",
            "keyframe/add", "keyframe/delete", "keyframe/move", "atlas/goto")


class ProtocolError(ValueError):
    """A message the page should not have sent: the reason goes back to that page only."""


@dataclass(frozen=True)
class Command:
    """A page's request that is not a parameter change.  `args` holds plain JSON values."""

    kind: str
    args: tuple = ()
    time: float = 0.0


def spec_json(spec: ParamSpec) -> dict:
    return {"name": spec.name, "min": spec.min, "max": spec.max, "default": spec.default,
            "kind": spec.kind, "osc": spec.osc, "doc": spec.doc, "args": spec.args}


def _number(value, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ProtocolError(f"{what} must be a number, got {value!r}")
    v = float(value)
    if not math.isfinite(v):
        raise ProtocolError(f"{what} must be finite, got {value!r}")
    return v


def _index(value, what: str) -> int:
    v = _number(value, what)
    if v != int(v) or v < 0:
        raise ProtocolError(f"{what} must be a whole number >= 0, got {value!r}")
    return int(v)


def _string(msg: dict, key: str) -> str:
    v = msg.get(key)
    if not isinstance(v, str) or not v:
        raise ProtocolError(f'"{key}" must be a non-empty string')
    return v


def parse(text: str | bytes, specs: Mapping[str, ParamSpec], now: float) -> ControlEvent | Command:
    """One message from a page -> a control event or a command; ProtocolError when it is wrong."""
    if len(text) > MAX_MESSAGE:
        raise ProtocolError(f"message longer than {MAX_MESSAGE} bytes")
    try:
        msg = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ProtocolError("not JSON") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("t"), str):
        raise ProtocolError('expected an object with a "t" field')
    kind = msg["t"]
    if kind in ("set", "fire"):
        name = _string(msg, "name")
        spec = specs.get(name)
        if spec is None:
            raise ProtocolError(f'no parameter "{name}"')
        if kind == "set":
            if spec.kind == "trigger":
                raise ProtocolError(f'"{name}" is a trigger: fire it')
            v = min(max(_number(msg.get("value"), "value"), spec.min), spec.max)
            return ControlEvent(SOURCE, f"param/{name}", v, now)
        if spec.kind != "trigger":
            raise ProtocolError(f'"{name}" is not a trigger: set it')
        arg = _number(msg.get("arg", 1.0), "arg")
        return ControlEvent(SOURCE, f"trigger/{name}", arg, now)
    if kind == "scene/save" or kind == "scene/delete":
        return Command(kind, (_string(msg, "name"),), now)
    if kind == "scene/recall":
        seconds = _number(msg.get("seconds", 0.0), "seconds")
        if seconds < 0:
            raise ProtocolError("seconds must be >= 0")
        return Command(kind, (_string(msg, "name"), seconds), now)
    if kind == "learn":
        name = _string(msg, "name")
        if name not in specs:
            raise ProtocolError(f'no parameter "{name}"')
        return Command(kind, (name,), now)
    if kind == "learn/cancel" or kind == "keyframe/add":
        return Command(kind, (), now)
    if kind == "keyframe/delete":
        return Command(kind, (_index(msg.get("index"), "index"),), now)
    if kind == "keyframe/move":
        return Command(kind, (_index(msg.get("index"), "index"), _index(msg.get("to"), "to")), now)
    if kind == "atlas/goto":
        return Command(kind, (_number(msg.get("x"), "x"), _number(msg.get("y"), "y")), now)
    raise ProtocolError(f'unknown message "{kind}"')


def dumps(obj) -> str:
    """JSON for the page: no NaN/Infinity (a browser's JSON.parse refuses them)."""
    return json.dumps(_finite(obj), separators=(",", ":"))


def _finite(obj):
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {str(k): _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    if hasattr(obj, "items"):
        return {str(k): _finite(v) for k, v in obj.items()}
    return obj
