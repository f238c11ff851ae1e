"""Opening hours at chosen moments of chosen days (2026-12-07 is a Monday)."""

from datetime import datetime

import pytest

from latentperform.service.hours import OpeningHours, parse_days, parse_range


def at(day: int, hhmm: str) -> datetime:
    h, m = map(int, hhmm.split(":"))
    return datetime(2026, 12, 7 + day, h, m)


def test_a_day_range_and_its_edges():
    h = OpeningHours.parse(["10:00-18:00"])
    assert not h.is_open(at(0, "09:59")) and h.is_open(at(0, "10:00"))
    assert h.is_open(at(0, "17:59")) and not h.is_open(at(0, "18:00"))


def test_a_range_past_midnight_belongs_to_the_day_it_starts():
    h = OpeningHours.parse(["20:00-02:00"], days=["fri"])
    assert h.is_open(at(4, "23:00")) and h.is_open(at(5, "01:59"))    # Friday night, into Saturday
    assert not h.is_open(at(5, "02:00")) and not h.is_open(at(5, "21:00"))
    assert not h.is_open(at(4, "01:00"))                               # Thursday night was closed


def test_days_ranges_wrap_and_several_ranges():
    assert parse_days(["mon-fri"]) == {0, 1, 2, 3, 4}
    assert parse_days(["fri-mon"]) == {4, 5, 6, 0}
    assert parse_days(["Sunday", "wed"]) == {6, 2}
    h = OpeningHours.parse(["10:00-12:00", "14:00-16:00"], days=["sat-sun"])
    assert h.is_open(at(5, "11:00")) and not h.is_open(at(5, "13:00")) and h.is_open(at(6, "15:30"))
    assert not h.is_open(at(0, "11:00"))
    assert OpeningHours.parse(days=["tue"]).is_open(at(1, "03:00"))
    assert OpeningHours.parse().always and OpeningHours.parse().is_open(at(3, "04:00"))


@pytest.mark.parametrize("bad", ["10-18", "10:00", "25:00-26:00", "10:00-10:00", "24:00-02:00", "9:60-10:00"])
def test_bad_ranges_are_refused(bad):
    with pytest.raises(ValueError):
        parse_range(bad)


@pytest.mark.parametrize("bad", ["monday-fri-sat", "mo", "holiday"])
def test_bad_days_are_refused(bad):
    with pytest.raises(ValueError, match="days"):
        parse_days([bad])


def test_daily_restart_comes_once_a_day():
    h = OpeningHours.parse(restart="04:30")
    started = at(0, "10:00")
    assert not h.restart_due(started, at(0, "23:59"))
    assert not h.restart_due(started, at(1, "04:29"))
    assert h.restart_due(started, at(1, "04:30"))
    assert not h.restart_due(at(1, "04:31"), at(1, "12:00"))    # restarted: tomorrow's is next
    assert h.restart_due(at(0, "03:00"), at(0, "04:31"))        # started before today's
    assert not OpeningHours.parse().restart_due(started, at(5, "04:30"))
    assert "restarts daily at 04:30" in h.describe()
