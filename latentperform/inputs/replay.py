"""Record the control events of a show and play them back: an offline render of a performance.

The log is JSON lines, one event per line: {"t": 12.345678, "source": "midi", "address":
"midi/cc/0/7", "value": 0.5} (a tuple value is written as a list).  `t` is engine-clock time,
which starts at 0 for both the live WallClock and the offline FixedStepClock, so replayed events
land on the same ticks.  A first line {"format": "latentperform-events", "version": 1} says what
the file is; it is optional on reading.

Replayed events keep their original source and address, so the mapping treats them exactly as it
did live.
"""

from __future__ import annotations

import bisect
import json
import math
import threading
from pathlib import Path
from typing import IO, Iterable

from ..config import UserError
from ..events import ControlEvent

FORMAT = "latentperform-events"
VERSION = 1


def _value_to_json(value):
    return list(value) if isinstance(value, tuple) else value


class EventLog:
    """Appends ControlEvents to a JSON-lines file.  Safe to call from several threads; flushed
    every `flush_every` events and on close, so a crash loses at most that many."""

    def __init__(self, path: str | Path, *, flush_every: int = 256) -> None:
        self.path = Path(path)
        try:
            self._file: IO[str] = open(self.path, "w", encoding="utf-8")
        except OSError as e:
            raise UserError(f"cannot write the event log {self.path}: {e.strerror}") from None
        self._lock = threading.Lock()
        self._flush_every = flush_every
        self._unflushed = 0
        self.written = 0
        self._file.write(json.dumps({"format": FORMAT, "version": VERSION}) + "\n")

    def write(self, event: ControlEvent) -> None:
        self.write_many((event,))

    def write_many(self, events: Iterable[ControlEvent]) -> None:
        lines = [json.dumps({"t": round(e.time, 6), "source": e.source, "address": e.address,
                             "value": _value_to_json(e.value)}, separators=(",", ":")) + "\n"
                 for e in events]
        if not lines:
            return
        with self._lock:
            if self._file.closed:
                return
            self._file.writelines(lines)
            self.written += len(lines)
            self._unflushed += len(lines)
            if self._unflushed >= self._flush_every:
                self._file.flush()
                self._unflushed = 0

    def close(self) -> None:
        with self._lock:
            if not self._file.closed:
                self._file.close()

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def read_event_log(path: str | Path) -> list[ControlEvent]:
    """Every event in a log, ordered by time (stable: equal times keep the file's order).

    A line that cannot be read is a UserError naming the file and line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read the event log {path}: {e.strerror}") from None
    events: list[ControlEvent] = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if "format" in row and "address" not in row:
                if row["format"] != FORMAT or int(row.get("version", 0)) > VERSION:
                    raise ValueError(f"not a version {VERSION} {FORMAT} file: {row}")
                continue
            value = row["value"]
            value = tuple(float(v) for v in value) if isinstance(value, list) else float(value)
            t = float(row["t"])
            if not math.isfinite(t):
                raise ValueError(f"time {t} is not finite")
            events.append(ControlEvent(str(row["source"]), str(row["address"]), value, t))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            raise UserError(f"{path}:{lineno}: not an event line ({e}); expected "
                            f'{{"t": seconds, "source": ..., "address": ..., "value": number or list}}') from None
    events.sort(key=lambda e: e.time)
    return events


class ReplayInput:
    """Plays a log back on the engine's clock: each call returns the events due since the last.

    `offset` shifts the log in time (start the performance `offset` seconds later, or earlier
    when negative); `start` skips everything before that engine time (render a range of frames).
    """

    def __init__(self, path_or_events: str | Path | Iterable[ControlEvent], *, offset: float = 0.0,
                 start: float | None = None) -> None:
        if isinstance(path_or_events, (str, Path)):
            events = read_event_log(path_or_events)
        else:
            events = sorted(path_or_events, key=lambda e: e.time)
        if offset:
            events = [ControlEvent(e.source, e.address, e.value, e.time + offset) for e in events]
        self.events = events
        self._times = [e.time for e in events]
        self._next = 0
        if start is not None:
            self.seek(start)

    def seek(self, t: float) -> None:
        """Forget everything before t: the next call returns events from t on."""
        self._next = bisect.bisect_left(self._times, t)

    def events_until(self, t: float) -> list[ControlEvent]:
        """Events with time <= t not returned yet, in order."""
        end = bisect.bisect_right(self._times, t, lo=self._next)
        out = self.events[self._next:end]
        self._next = end
        return out

    @property
    def done(self) -> bool:
        return self._next >= len(self.events)

    @property
    def duration(self) -> float:
        return self._times[-1] if self._times else 0.0

    def close(self) -> None:
        pass
