"""The show's side of the control room, run on the show's tick, knowing nothing of the engine.

`ControlSession.tick(now, values)` takes what the pages asked for since the last tick: a scene
recall becomes a `SceneMorph` whose `param/` events come out of this tick and the next ones
(the show's mapper applies them like any input, and an event log records them); every other
command (learn, keyframe edits, atlas travel) is handed back for the show to carry out.
`publish` and `offer_frame` cost nothing when no page is open or nothing is due: the snapshot
is built only when the room wants one.

`Activity` is the mappings table's meter: each row lights up when an event its source matches
arrives, and fades over `FADE_S`.
"""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping

from ..events import ControlEvent
from .protocol import Command
from .scenes import SceneMorph, restrict
from .server import ControlRoom

FADE_S = 0.6


class ControlSession:
    def __init__(self, room: ControlRoom) -> None:
        self.room = room
        self.morph: SceneMorph | None = None
        self.recalled: list[str] = []   # names recalled, in order (shown and tested)
        self._last_tick: float | None = None

    def recall(self, name: str, seconds: float, now: float, values: Mapping[str, float]) -> str | None:
        """Start recalling scene `name` (a cut when seconds is 0); the reason when it cannot."""
        target = self.room.scenes.get(name)
        if target is None:
            names = self.room.scenes.names()
            return f'no scene "{name}"' + (f" (scenes: {', '.join(names)})" if names else " (no scenes saved yet)")
        # only what the show still has: a scene saved before a patch edit may name parameters it dropped
        target = restrict(target, self.room.specs) if self.room.specs else target
        self.morph = SceneMorph(dict(values), target, now, max(0.0, float(seconds)))
        self.recalled.append(name)
        return None

    def tick(self, now: float, values: Mapping[str, float]) -> tuple[list[ControlEvent], list[Command]]:
        others = []
        for cmd in self.room.pop_commands():
            if cmd.kind == "scene/recall":
                problem = self.recall(cmd.args[0], cmd.args[1], now, values)
                if problem:
                    self.room.send_error(problem)
            else:
                others.append(cmd)
        events: list[ControlEvent] = []
        if self.morph is not None:
            # stamped with the previous tick's time: what a performer moved since is newer and
            # wins, and the morph then lets that parameter go (SceneMorph)
            stamp = now if self._last_tick is None else min(now, max(self._last_tick, self.morph.t0))
            events = self.morph.events(now, values, stamp)
            if self.morph.done:
                self.morph = None
        self._last_tick = now
        return events, others

    def publish(self, now: float, build_state: Callable[[], dict]) -> bool:
        if not self.room.wants_state(now):
            return False
        self.room.publish_state(build_state(), now)
        return True

    @property
    def wants_frame(self) -> bool:
        return self.room.wants_frame(self.room.clock.now())

    def offer_frame(self, now: float, pixels) -> bool:
        if pixels is None:
            return False
        return self.room.publish_frame(pixels, now)


class Activity:
    """Per mapping row, how recently its input moved: 1 on an event, fading to 0.

    rows: (source pattern, target, mode) in the patch's order; `match(pattern, address)` is
    the mapper's own matcher (passed in: this package does not import the patch layer).
    """

    def __init__(self, rows: Iterable[tuple[str, str, str]], match: Callable[[str, str], bool]) -> None:
        self.rows = list(rows)
        self.match = match
        self._last = [-math.inf] * len(self.rows)
        self._value: list[float | None] = [None] * len(self.rows)
        self._cache: dict[str, tuple[int, ...]] = {}

    def see(self, events: Iterable[ControlEvent]) -> None:
        for e in events:
            hits = self._cache.get(e.address)
            if hits is None:
                hits = tuple(i for i, (src, _, _) in enumerate(self.rows) if self.match(src, e.address))
                if len(self._cache) < 4096:
                    self._cache[e.address] = hits
            for i in hits:
                self._last[i] = e.time
                self._value[i] = e.scalar()

    def table(self, now: float) -> list[dict]:
        out = []
        for i, (src, target, mode) in enumerate(self.rows):
            age = now - self._last[i]
            out.append({"source": src, "target": target, "mode": mode,
                        "activity": math.exp(-age / FADE_S) if age >= 0 else 1.0, "input": self._value[i]})
        return out
