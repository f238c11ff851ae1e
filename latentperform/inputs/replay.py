"""Record the control events of a show and play them back: an offline render of a performance.

The log is JSON lines, one event per line: {"t": 12.345678, "source": "midi", "address":
"midi/cc/0/7", "value": 0.5} (a tuple value is written as a list).  `t` is engine-clock time,
which starts at 0 for both the live WallClock and the offline FixedStepClock, so replayed events
land on the same ticks.  A first line {"format": "latentperform-events", "version": 1} says what
the file is; it is optional on reading.

Lines of the same shape as that first one, with one more key, say things about the show rather than
one event (an older reader skips them as repeated headers):
  {"format": ..., "version": 1, "audio": {"path": "show.flac", "t0": 0.61, "sample_rate": 48000}}
      the sound the live audio input heard was recorded to `path` (relative to the log's folder),
      and its first sample sounded at engine time `t0`.  The file's timeline is the show's from
      there on: time lost to a device that went away is silence in the file.
  {"format": ..., "version": 1, "end": 63.2}    the engine time at which the show stopped

Replayed events keep their original source and address, so the mapping treats them exactly as it
did live.
"""

from __future__ import annotations

import bisect
import json
import logging
import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Iterable

from ..config import UserError
from ..events import ControlEvent

log = logging.getLogger("latentperform.inputs.replay")

FORMAT = "latentperform-events"
VERSION = 1


def _value_to_json(value):
    return list(value) if isinstance(value, tuple) else value


class EventLog:
    """Appends ControlEvents to a JSON-lines file without ever writing on the caller's thread.

    `write_many` (the render loop) only formats lines and hands them over; a writer thread puts
    them in the file and flushes at least every `flush_s` seconds, so a killed show loses at
    most that much (the header is on disk at once: a log is never an empty file).  Safe to
    call from several threads.  A failed write (a full disk, a file-size limit) stops the log:
    `error` says so in one line, logged once; the show is not disturbed, and what was written
    before stays a valid, if shorter, log.  `close()` writes what is pending and closes.
    """

    def __init__(self, path: str | Path, *, flush_s: float = 0.5, flush_every: int | None = None) -> None:
        self.path = Path(path)
        try:
            self._file: IO[str] = open(self.path, "w", encoding="utf-8")
            self._file.write(json.dumps({"format": FORMAT, "version": VERSION}) + "\n")
            self._file.flush()
        except OSError as e:
            raise UserError(f"cannot write the event log {self.path}: {e.strerror}") from None
        self._lock = threading.Lock()
        self._wake = threading.Condition(self._lock)
        self._pending: list[str] = []
        self._flush_s = float(flush_s)
        self._closing = False
        self.written = 0      # event lines handed over
        self.on_disk = 0      # event lines the file holds (written and flushed)
        self._refused = 0     # event lines handed over after the log had stopped
        self.error: str | None = None
        self._thread = threading.Thread(target=self._run, name="lp-event-log", daemon=True)
        self._thread.start()

    def write_meta(self, **fields) -> None:
        """A line about the show (audio recording, end time), not an event: see the module doc.
        It is on disk when this returns (unless the log has stopped)."""
        line = json.dumps({"format": FORMAT, "version": VERSION, **fields}, separators=(",", ":")) + "\n"
        with self._lock:
            if self._closing or self.error is not None:
                return
            self._pending.append(line)
            self._write_pending()

    def write(self, event: ControlEvent) -> None:
        self.write_many((event,))

    def write_many(self, events: Iterable[ControlEvent]) -> None:
        lines = [json.dumps({"t": round(e.time, 6), "source": e.source, "address": e.address,
                             "value": _value_to_json(e.value)}, separators=(",", ":")) + "\n"
                 for e in events]
        if not lines:
            return
        with self._lock:
            if self.error is not None:
                self._refused += len(lines)
                return
            if self._closing:
                return
            self.written += len(lines)
            self._pending.extend(lines)

    @property
    def lost(self) -> int:
        """Event lines handed over that the file does not hold (the log stopped, or they are not
        flushed yet)."""
        return self.written - self.on_disk + self._refused

    def flush(self) -> None:
        """Write and flush what is pending now (a signal handler, a test)."""
        with self._lock:
            self._write_pending()

    def _write_pending(self) -> None:
        """Under the lock: pending lines to the file, flushed."""
        if not self._pending or self.error is not None or self._file.closed:
            return
        lines, self._pending = self._pending, []
        try:
            self._file.writelines(lines)
            self._file.flush()
        except (OSError, ValueError) as e:
            why = getattr(e, "strerror", None) or str(e)
            self.error = (f"the event log {self.path} stopped: {why}; it keeps the {self.on_disk} events "
                          f"written before")
            log.warning("%s", self.error)
            try:
                self._file.close()  # whatever half line is in the buffer is dropped with it
            except OSError:
                pass
            return
        self.on_disk += sum(1 for ln in lines if '"address"' in ln)

    def _run(self) -> None:
        with self._lock:
            while not self._closing:
                self._wake.wait(self._flush_s)
                self._write_pending()

    def close(self) -> None:
        with self._lock:
            if self._closing:
                return
            self._closing = True
            self._write_pending()
            self._wake.notify_all()
            if not self._file.closed:
                try:
                    self._file.close()
                except OSError as e:
                    if self.error is None:
                        self.error = f"the event log {self.path} could not be closed: {e.strerror}"
                        log.warning("%s", self.error)
        self._thread.join(2.0)

    def __enter__(self) -> "EventLog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@dataclass(frozen=True)
class LoggedAudio:
    """The sound recorded with a log: `path` (resolved against the log's folder), the engine time
    `t0` of its first sample, and its sample rate."""
    path: Path
    t0: float
    sample_rate: float | None = None


def read_event_log(path: str | Path) -> list[ControlEvent]:
    """Every event in a log, ordered by time (stable: equal times keep the file's order).

    A line that cannot be read is a UserError naming the file and line.
    """
    return read_event_log_with_meta(path)[0]


def read_event_log_with_meta(path: str | Path) -> tuple[list[ControlEvent], dict]:
    """(events, meta): meta has "audio" (a LoggedAudio) and "end" (engine time) when the log says."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise UserError(f"cannot read the event log {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise UserError(f"{path} is not an event log (not text; `run --log-events` writes JSON lines)") from None
    events: list[ControlEvent] = []
    meta: dict = {"warnings": []}
    lines = text.splitlines()
    cut_short = bool(text) and not text.endswith("\n")  # a show killed in the middle of a line
    for lineno, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            if "format" in row and "address" not in row:
                if row["format"] != FORMAT or int(row.get("version", 0)) > VERSION:
                    raise ValueError(f"not a version {VERSION} {FORMAT} file: {row}")
                _read_meta(row, path, meta)
                continue
            value = row["value"]
            value = tuple(float(v) for v in value) if isinstance(value, list) else float(value)
            t = float(row["t"])
            if not math.isfinite(t):
                raise ValueError(f"time {t} is not finite")
            events.append(ControlEvent(str(row["source"]), str(row["address"]), value, t))
        except (ValueError, KeyError, TypeError, AttributeError) as e:
            if cut_short and lineno == len(lines):
                meta["warnings"].append(f"{path}:{lineno}: the last line is cut short (the show was killed?); "
                                        f"replaying the {len(events)} events before it")
                break
            raise UserError(f"{path}:{lineno}: not an event line ({str(e)[:200]}); expected "
                            f'{{"t": seconds, "source": ..., "address": ..., "value": number or list}}') from None
    if not events:
        meta["warnings"].append(f"{path} holds no events" + ("" if text.strip() else " (the file is empty)")
                                + ": the replay has no control input")
    elif "end" not in meta:
        meta["warnings"].append(f"{path} has no end mark (the show did not stop normally): it is replayed "
                                f"up to its last event, {events[-1].time:.2f} s")
    for w in meta["warnings"]:
        log.warning("%s", w)
    events.sort(key=lambda e: e.time)
    return events, meta


def _read_meta(row: dict, log_path: Path, meta: dict) -> None:
    audio = row.get("audio")
    if isinstance(audio, dict):
        t0 = float(audio["t0"])
        if not math.isfinite(t0):
            raise ValueError(f"audio t0 {t0} is not finite")
        rate = audio.get("sample_rate")
        meta["audio"] = LoggedAudio(log_path.parent / str(audio["path"]), t0,
                                    float(rate) if rate is not None else None)
    if "end" in row:
        end = float(row["end"])
        if not math.isfinite(end):
            raise ValueError(f"end {end} is not finite")
        meta["end"] = end


class ReplayInput:
    """Plays a log back on the engine's clock: each call returns the events due since the last.

    `offset` shifts the log in time (start the performance `offset` seconds later, or earlier
    when negative); `start` skips everything before that engine time (render a range of frames).
    """

    def __init__(self, path_or_events: str | Path | Iterable[ControlEvent], *, offset: float = 0.0,
                 start: float | None = None) -> None:
        meta: dict = {}
        if isinstance(path_or_events, (str, Path)):
            events, meta = read_event_log_with_meta(path_or_events)
        else:
            events = sorted(path_or_events, key=lambda e: e.time)
        # the sound recorded with the show, if any (its t0 is not shifted by `offset`: the caller
        # aligns it), and when the show stopped
        self.audio: LoggedAudio | None = meta.get("audio")
        self.end: float | None = meta.get("end")
        self.warnings: list[str] = list(meta.get("warnings", ()))  # a log cut short, empty, unended
        if offset:
            events = [ControlEvent(e.source, e.address, e.value, e.time + offset) for e in events]
        self._offset = float(offset)
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
        """The show's length: its logged end, else its last event (with `offset` applied)."""
        last = self._times[-1] if self._times else 0.0
        return max(last, self.end + self._offset) if self.end is not None else last

    def close(self) -> None:
        pass
