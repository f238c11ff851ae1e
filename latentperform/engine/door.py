"""The input door: every source of a show's events comes in here, once per tick.

    door.add_queue(name)    an EventQueue that any thread may put on (MIDI and OSC inputs, the
                            sound card, a web page); drained without blocking
    door.add_source(fn)     fn(t) -> events for this tick (a replayed log, an offline feature track)
    parts' poll(engine, t)  events a part makes on the engine's thread (keys, musical time)
    door.add_filter(fn)     fn(engine, events, t) -> events: sees every event before the mapper
                            (learn mode holds back the control it is learning)
    events = door.drain(engine, t)

`drain` merges them all and sorts them by event time, live as in a replay (the sort is stable:
events of one time keep the order their sources gave them), so "who moved last" is the same on
stage and in a re-render.  Then the filters, then the event log (without the engine's own
musical-time events, which a replay makes again), the event counts, and `coalesce` (latest wins
per continuous address).
"""

from __future__ import annotations

import logging
from typing import Callable, Iterable

from ..events import ControlEvent, EventQueue, coalesce
from .stats import INTERNAL_SOURCES

log = logging.getLogger("latentperform.engine")

Source = Callable[[float], Iterable[ControlEvent]]
Filter = Callable[[object, list, float], list]


class InputDoor:
    """See the module docstring.  `event_log` (an EventLog or None) gets what came in."""

    def __init__(self, stats, event_log=None) -> None:
        self.stats = stats
        self.event_log = event_log
        self.queues: list[tuple[str, EventQueue]] = []
        self.sources: list[Source] = []
        self.filters: list[Filter] = []

    def add_queue(self, name: str = "") -> EventQueue:
        q = EventQueue()
        self.queues.append((name, q))
        return q

    def add_source(self, source: Source) -> Source:
        self.sources.append(source)
        return source

    def add_filter(self, fn: Filter) -> Filter:
        self.filters.append(fn)
        return fn

    def drain(self, engine, t: float) -> list[ControlEvent]:
        events: list[ControlEvent] = []
        for _, q in self.queues:
            events.extend(q.iter_pending())
        for source in self.sources:
            try:
                events.extend(source(t))
            except Exception as e:  # a broken log line or feature must not end the show
                engine.report(f"input: {e!r}")
        for part in engine.parts:
            try:
                events.extend(part.poll(engine, t))
            except Exception as e:  # a part's bug must not end the show
                engine.report(f"{type(part).__name__}: {e!r}")
        events.sort(key=_time)
        for fn in self.filters:
            try:
                events = list(fn(engine, events, t))
            except Exception as e:
                engine.report(f"input filter: {e!r}")
        if self.event_log is not None and events:
            logged = [e for e in events if e.source not in INTERNAL_SOURCES]
            if logged:
                self.event_log.write_many(logged)
        self.stats.count_events(events, t)
        return coalesce(events)


def _time(e: ControlEvent) -> float:
    return e.time
