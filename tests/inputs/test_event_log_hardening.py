"""The record of a show survives kills and full disks (issue 12, items 2 and 9): the event log
is on disk within a second without being closed, a killed show's log replays what it holds with
a warning, a full disk stops the log (reported once) without an exception into the show, and a
file that is not a log is one clear error."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from latentperform.config import UserError
from latentperform.events import ControlEvent
from latentperform.inputs.replay import EventLog, ReplayInput, read_event_log_with_meta

ROOT = Path(__file__).resolve().parents[2]


def ev(i: int) -> ControlEvent:
    return ControlEvent("osc", "osc/fader", i / 1000, i / 100)


def lines_on_disk(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text().splitlines() if l.strip()]


def test_events_are_on_disk_within_a_second_without_close(tmp_path):
    path = tmp_path / "show.jsonl"
    log = EventLog(path)
    assert lines_on_disk(path) == [{"format": "latentperform-events", "version": 1}]  # never a 0-byte log
    log.write_many([ev(i) for i in range(10)])  # fewer than any batch size: only the clock flushes them
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and len(lines_on_disk(path)) < 11:
        time.sleep(0.05)
    assert len(lines_on_disk(path)) == 11
    log.close()
    assert log.on_disk == 10 and log.error is None


WRITER = textwrap.dedent('''
    import sys, time
    sys.path.insert(0, sys.argv[2])
    from latentperform.events import ControlEvent
    from latentperform.inputs.replay import EventLog
    log = EventLog(sys.argv[1])
    i = 0
    while True:
        log.write_many([ControlEvent("osc", "osc/fader", (i % 100) / 100, i / 100)])
        i += 1
        if i == 50:
            print("going", flush=True)
        time.sleep(0.002)
''')


def test_a_killed_show_leaves_a_log_that_replays_what_it_holds(tmp_path):
    path = tmp_path / "killed.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(ROOT)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "going"
    time.sleep(1.5)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    events, meta = read_event_log_with_meta(path)
    assert len(events) >= 50  # everything up to ~0.5 s before the kill
    assert any("no end mark" in w for w in meta["warnings"])


def test_a_log_cut_in_the_middle_of_a_line_replays_with_a_warning(tmp_path, caplog):
    path = tmp_path / "cut.jsonl"
    with EventLog(path) as log:
        log.write_many([ev(i) for i in range(5)])
    text = path.read_text()
    path.write_text(text + '{"t": 0.06, "source": "osc", "addr')
    r = ReplayInput(path)
    assert len(r.events) == 5
    assert any("cut short" in w for w in r.warnings) and "cut short" in caplog.text
    # an empty file (a log from before this fix, killed at once) is not silently "a show"
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert any("empty" in w for w in ReplayInput(empty).warnings)
    # a broken line in the middle is still an error: that is not a kill, it is a wrong file
    path.write_text(text.replace('"source"', '"sauce"', 1))
    with pytest.raises(UserError, match=r"cut.jsonl:2"):
        ReplayInput(path)


def test_a_binary_file_is_not_an_event_log(tmp_path):
    bad = tmp_path / "video.jsonl"
    bad.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match="not an event log"):
        ReplayInput(bad)


FULL_DISK = textwrap.dedent('''
    import resource, sys, time
    sys.path.insert(0, sys.argv[2])
    from latentperform.events import ControlEvent
    from latentperform.inputs.replay import EventLog
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))   # writes past 4 KiB fail, as on a full disk
    log = EventLog(sys.argv[1], flush_s=0.05)
    t0 = time.perf_counter()
    for i in range(2000):
        log.write_many([ControlEvent("osc", "osc/fader", 0.5, i / 100)])   # never raises
        if i % 100 == 0:
            time.sleep(0.06)
    log.write_meta(end=20.0)
    log.close()
    print(log.error)
    print(log.on_disk, log.lost, log.written)
''')


def test_a_full_disk_stops_the_log_once_and_never_raises(tmp_path):
    path = tmp_path / "full.jsonl"
    r = subprocess.run([sys.executable, "-c", FULL_DISK, str(path), str(ROOT)], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    error, counts = r.stdout.strip().splitlines()[-2:]
    assert "stopped" in error and "full.jsonl" in error
    assert r.stderr.count("event log") == 1  # reported once
    on_disk, lost, written = map(int, counts.split())
    assert 0 < on_disk < written < 2000 and on_disk + lost == 2000  # written: accepted before it stopped
    events, meta = read_event_log_with_meta(path)  # what was written before is a valid log
    assert len(events) >= on_disk - 1 and os.path.getsize(path) <= 4096
