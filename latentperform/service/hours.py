"""Opening hours: when the show plays, and when it restarts itself each day.

    hours   = ["10:00-18:00", "20:00-02:00"]   # a range past midnight belongs to the day it starts on
    days    = ["mon-fri", "sun"]               # default: every day
    restart = "04:30"                          # a daily restart at this local time (default: none)

Pure functions of local time (a `datetime`), so they are tested at any hour of any day.  The
patch reader parses with these functions, so a bad range is refused with its file and line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta

__all__ = ["DAYS", "parse_clock", "parse_range", "parse_days", "OpeningHours"]

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CLOCK = re.compile(r"^(\d{1,2}):(\d{2})$")


def parse_clock(text: str) -> int:
    """"HH:MM" -> minutes after midnight (0..1439); "24:00" is midnight at the end of the day (1440)."""
    m = _CLOCK.match(str(text).strip())
    if not m:
        raise ValueError(f'expected a time "HH:MM", got "{text}"')
    h, mi = int(m.group(1)), int(m.group(2))
    if (h, mi) == (24, 0):
        return 1440
    if h > 23 or mi > 59:
        raise ValueError(f'expected a time from "00:00" to "24:00", got "{text}"')
    return h * 60 + mi


def parse_range(text: str) -> tuple[int, int]:
    """"HH:MM-HH:MM" -> (start, end) minutes; end may be <= start (the range goes past midnight),
    never equal (that would be no time or all of it: leave `hours` out for all day)."""
    parts = str(text).split("-")
    if len(parts) != 2:
        raise ValueError(f'expected a range "HH:MM-HH:MM", got "{text}"')
    start, end = parse_clock(parts[0]), parse_clock(parts[1])
    if start == 1440:
        raise ValueError(f'a range cannot start at "24:00": "{text}"')
    if start == end:
        raise ValueError(f'expected a range of some length, got "{text}" (leave hours out for all day)')
    return start, end


def parse_days(items) -> frozenset[int]:
    """["mon-fri", "sun"] -> weekday numbers (Monday 0); a range may wrap ("fri-mon")."""
    out: set[int] = set()
    for item in items:
        word = str(item).strip().lower()
        ends = word.split("-")
        if len(ends) > 2 or any(e[:3] not in DAYS or len(e) < 3 for e in ends):
            raise ValueError(f'expected days like "mon", "sat-sun" or "mon-fri", got "{item}"')
        a, b = DAYS.index(ends[0][:3]), DAYS.index(ends[-1][:3])
        k = a
        while True:
            out.add(k)
            if k == b:
                break
            k = (k + 1) % 7
    return frozenset(out)


@dataclass(frozen=True)
class OpeningHours:
    """ranges: (start, end) minutes; empty: open all day.  days: weekdays open (Monday 0).
    restart: minutes after midnight of a daily restart, or None."""

    ranges: tuple[tuple[int, int], ...] = ()
    days: frozenset[int] = frozenset(range(7))
    restart: int | None = None

    @classmethod
    def parse(cls, hours=(), days=None, restart: str | None = None) -> "OpeningHours":
        return cls(ranges=tuple(parse_range(h) for h in hours),
                   days=parse_days(days) if days else frozenset(range(7)),
                   restart=parse_clock(restart) % 1440 if restart else None)

    @property
    def always(self) -> bool:
        return not self.ranges and len(self.days) == 7

    def is_open(self, now: datetime) -> bool:
        minute = now.hour * 60 + now.minute + now.second / 60.0
        today, yesterday = now.weekday(), (now.weekday() - 1) % 7
        if not self.ranges:
            return today in self.days
        for start, end in self.ranges:
            if end > start:
                if today in self.days and start <= minute < end:
                    return True
            else:  # past midnight: the evening part today, the early part belongs to yesterday
                if today in self.days and minute >= start:
                    return True
                if yesterday in self.days and minute < end:
                    return True
        return False

    def restart_due(self, started: datetime, now: datetime) -> bool:
        """True when a daily restart time lies in (started, now]: the show started before it and
        it has come.  A show started after today's restart time waits for tomorrow's."""
        if self.restart is None or now <= started:
            return False
        at = datetime.combine(started.date(), time(self.restart // 60, self.restart % 60), tzinfo=started.tzinfo)
        if at <= started:
            at += timedelta(days=1)
        return at <= now

    def describe(self) -> str:
        if self.always:
            text = "open all day, every day"
        else:
            hours = ", ".join(f"{s // 60:02d}:{s % 60:02d}-{e // 60:02d}:{e % 60:02d}" for s, e in self.ranges) \
                or "all day"
            days = ", ".join(DAYS[d] for d in sorted(self.days))
            text = f"open {hours} on {days}"
        if self.restart is not None:
            text += f"; restarts daily at {self.restart // 60:02d}:{self.restart % 60:02d}"
        return text
