"""Scenes: named snapshots of the show's parameters, kept in a TOML file beside the patch.

A scene is the value of every continuous parameter at the moment it was saved (show commands
under `engine/` and the tempo are left out: a scene changes the picture, not whether it is
black, frozen or recording, and not the music's tempo).  Recalling one is a cut or a timed
morph; either way it reaches the show as ordinary `param/<name>` control events, made once per
tick by `SceneMorph`, so `--log-events` records them and `render --replay` reproduces them.

The file is rewritten whole on every change, to a temporary file in the same folder that is
fsynced and then renamed over the old one: a show that stops or crashes mid-write leaves the
previous file or the new one, never half of one.  Comments and order already in the file are
kept (tomlkit).  A file that cannot be read is set aside as `<name>.broken` the first time a
scene is saved, never overwritten.
"""

from __future__ import annotations

import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping

import tomlkit

from ..config import UserError, write_atomic
from ..events import ControlEvent, ParamSpec

SCENE_NAME = re.compile(r"^[^\x00-\x1f\"\\]{1,64}$")
# parameters a scene does not hold: show commands and the tempo
EXCLUDED_PREFIXES = ("engine/", "clock/", "control/")
MAX_MORPH_SECONDS = 600.0


def scenes_path_for(patch_path: str | os.PathLike | None) -> Path | None:
    """`show.toml` -> `show.scenes.toml` beside it (None for a show without a patch file)."""
    if patch_path is None:
        return None
    p = Path(patch_path)
    return p.with_name(p.stem + ".scenes.toml")


def scene_values(values: Mapping[str, float], specs: Mapping[str, ParamSpec]) -> dict[str, float]:
    """What a scene keeps of a parameter state: continuous, registered, not a show command."""
    out = {}
    for name, v in values.items():
        spec = specs.get(name)
        if spec is None or spec.kind == "trigger" or name.startswith(EXCLUDED_PREFIXES):
            continue
        if isinstance(v, (int, float)) and math.isfinite(v):
            out[name] = float(v)
    return out


def check_scene_name(name: object) -> str:
    if not isinstance(name, str) or not SCENE_NAME.match(name.strip() or "\x00"):
        raise UserError(f"a scene name is 1 to 64 printable characters without quotes or backslashes, got {name!r}")
    return name.strip()


class SceneBook:
    """The scenes of one show, in memory and in their file.  Thread-safe (the control room's
    server thread saves, the engine's tick recalls)."""

    def __init__(self, path: str | os.PathLike | None) -> None:
        self.path = Path(path) if path is not None else None
        self._lock = threading.Lock()
        self._doc = tomlkit.document()
        self._broken = False
        self.problem: str | None = None
        if self.path is not None and self.path.exists():
            try:
                doc = tomlkit.parse(self.path.read_text())
                _validate(doc)
                self._doc = doc
            except (OSError, ValueError, tomlkit.exceptions.TOMLKitError) as e:
                self._broken = True
                self.problem = f"{self.path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}; " \
                               f"its scenes are not loaded (it will be kept as {self.path.name}.broken)"

    def names(self) -> list[str]:
        with self._lock:
            return list(self._table())

    def get(self, name: str) -> dict[str, float] | None:
        with self._lock:
            scene = self._table().get(name)
            if scene is None:
                return None
            return {str(k): float(v) for k, v in scene.get("values", {}).items()}

    def save(self, name: str, values: Mapping[str, float]) -> None:
        """Add or replace scene `name` and write the file (raises UserError when it cannot)."""
        name = check_scene_name(name)
        with self._lock:
            table = self._table(create=True)
            scene = tomlkit.table()
            scene.add("saved", time.strftime("%Y-%m-%d %H:%M:%S"))
            vals = tomlkit.inline_table() if len(values) <= 4 else tomlkit.table()
            for k in sorted(values):
                vals.add(k, round(float(values[k]), 6))
            scene.add("values", vals)
            if name in table:
                table[name] = scene
            else:
                table.add(name, scene)
            self._write()

    def delete(self, name: str) -> bool:
        with self._lock:
            table = self._table()
            if name not in table:
                return False
            del table[name]
            self._write()
            return True

    # -- internals --------------------------------------------------------------------------

    def _table(self, create: bool = False):
        if "scenes" not in self._doc:
            if not create:
                return {}
            self._doc.add(tomlkit.comment("latentperform scenes: written by the control room; safe to edit by hand"))
            self._doc.add("scenes", tomlkit.table(is_super_table=True))
        return self._doc["scenes"]

    def _write(self) -> None:
        if self.path is None:
            return
        text = tomlkit.dumps(self._doc)
        try:
            if self._broken and self.path.exists():
                os.replace(self.path, self.path.with_name(self.path.name + ".broken"))
                self._broken = False
            write_atomic(self.path, text)
        except OSError as e:
            raise UserError(f"cannot write the scenes file {self.path}: {e.strerror or e}") from None


def _validate(doc) -> None:
    scenes = doc.get("scenes", {})
    if not isinstance(scenes, dict):
        raise ValueError('"scenes" must be a table of scenes')
    for name, scene in scenes.items():
        vals = scene.get("values") if isinstance(scene, dict) else None
        if not isinstance(vals, dict):
            raise ValueError(f'scene "{name}" has no "values" table')
        for k, v in vals.items():
            if not isinstance(v, (int, float)) or isinstance(v, bool):
                raise ValueError(f'scene "{name}": value of "{k}" must be a number, got {v!r}')


@dataclass
class SceneMorph:
    """A recall in progress: from `start` to `target` over `seconds` (0: a cut).

    `events(now, current)` gives this tick's `param/<name>` events (a smoothstep between the two
    states; parameters missing from `start` jump at once); `done` once the target is reached.
    A parameter that something else moved while the morph runs (`current` differs from what the
    morph wrote last) is let go: the performer's hand wins over a recall.
    """

    start: Mapping[str, float]
    target: Mapping[str, float]
    t0: float
    seconds: float = 0.0
    source: str = "control"
    done: bool = False
    _written: dict = field(default_factory=dict, repr=False)   # what it set last, per parameter

    def events(self, now: float, current: Mapping[str, float] | None = None,
               stamp: float | None = None) -> list[ControlEvent]:
        """`stamp`: the events' time (default `now`).  The show's part passes the time of its
        previous tick, so an input that arrived since is newer and wins this tick too."""
        if self.done:
            return []
        written = self._written
        if current is not None and written:
            moved = [n for n, v in written.items() if n in current and abs(current[n] - v) > 1e-6]
            if moved:
                self.target = {k: v for k, v in self.target.items() if k not in moved}
                for n in moved:
                    del written[n]
        if self.seconds <= 0:
            u = 1.0
        else:
            u = min(1.0, max(0.0, (now - self.t0) / self.seconds))
        s = u * u * (3.0 - 2.0 * u)
        out = []
        for name, b in self.target.items():
            a = self.start.get(name, b)
            v = a + (b - a) * s
            written[name] = v
            out.append(ControlEvent(self.source, f"param/{name}", v, now if stamp is None else stamp))
        if u >= 1.0:
            self.done = True
        return out


def morph_seconds(value: object) -> float:
    try:
        s = float(value or 0.0)
    except (TypeError, ValueError):
        raise UserError(f"a morph time is a number of seconds, got {value!r}") from None
    if not math.isfinite(s) or s < 0 or s > MAX_MORPH_SECONDS:
        raise UserError(f"a morph time is 0 to {MAX_MORPH_SECONDS:g} seconds, got {value!r}")
    return s


def restrict(values: Mapping[str, float], names: Iterable[str]) -> dict[str, float]:
    keep = set(names)
    return {k: v for k, v in values.items() if k in keep}
