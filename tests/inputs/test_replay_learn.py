"""Event logs round-trip into the same events at the same ticks; MIDI learn picks the control
that moved (not the one that jitters) and writes the mapping with the patch's comments kept."""

from __future__ import annotations

import os
import threading

import pytest
import tomlkit

from latentperform.clock import FixedStepClock
from latentperform.config import UserError
from latentperform.events import ControlEvent
from latentperform.inputs.learn import Learner, write_mapping
from latentperform.inputs.replay import EventLog, ReplayInput, read_event_log


def ev(address, value, t, source="midi"):
    return ControlEvent(source, address, value, t)


def test_log_round_trip_replays_on_the_same_ticks(tmp_path):
    path = tmp_path / "show.jsonl"
    events = [ev("midi/cc/0/7", 0.5, 0.010), ev("osc/lp/xy", (0.25, 0.75), 0.020, "osc"),
              ev("trigger/latent/keyframe/next", 1.0, 0.034, "osc"), ev("midi/cc/0/7", 0.75, 0.1),
              ev("midi/cc/0/7", 1.0, 0.1), ev("clock/beat", 3.0, 1.5, "clock")]
    with EventLog(path) as log:
        log.write(events[0])
        log.write_many(events[1:])
        log.write_many([])
    assert read_event_log(path) == events

    replay = ReplayInput(path)
    clock = FixedStepClock(30.0)
    ticks = []
    for _ in range(60):
        t = clock.tick()
        ticks.append([e for e in replay.events_until(t)])
    assert [len(x) for x in ticks[:5]] == [0, 2, 1, 2, 0]  # frame k covers times <= k/30
    assert ticks[1] == events[:2] and ticks[3] == events[3:5]
    assert ticks[45] == [events[5]]  # 1.5 s
    assert sum(map(len, ticks)) == len(events) and replay.done


def test_replay_offset_start_and_writes_from_threads(tmp_path):
    path = tmp_path / "log.jsonl"
    log = EventLog(path, flush_every=7)
    threads = [threading.Thread(target=lambda k=k: [log.write(ev(f"midi/cc/{k}/1", i / 100, i / 100))
                                                      for i in range(100)]) for k in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    log.close()
    log.write(ev("x", 1.0, 0.0))  # after close: ignored, no crash
    assert log.written == 400
    r = ReplayInput(path, offset=10.0, start=10.5)
    got = r.events_until(100.0)
    assert len(got) == 4 * 50 and min(e.time for e in got) == pytest.approx(10.5)
    assert [e.time for e in got] == sorted(e.time for e in got)
    assert r.events_until(200.0) == []


def test_log_notes_the_recorded_sound_and_the_end(tmp_path):
    path = tmp_path / "show.jsonl"
    with EventLog(path) as log:
        log.write(ev("midi/cc/0/7", 0.5, 0.25))
        log.write_meta(audio={"path": "show.flac", "t0": 0.61, "sample_rate": 48000.0})
        log.write(ev("midi/cc/0/7", 0.75, 1.0))
        log.write_meta(end=3.5)
    assert [e.time for e in read_event_log(path)] == [0.25, 1.0]   # meta lines are not events
    r = ReplayInput(path)
    assert r.audio.path == tmp_path / "show.flac" and r.audio.t0 == 0.61 and r.audio.sample_rate == 48000
    assert r.end == 3.5 and r.duration == 3.5
    assert ReplayInput(path, offset=2.0).duration == 5.5
    # a log without them: no sound, and the length is the last event's
    plain = tmp_path / "plain.jsonl"
    with EventLog(plain) as log:
        log.write(ev("midi/cc/0/7", 0.5, 2.0))
    r = ReplayInput(plain)
    assert r.audio is None and r.end is None and r.duration == 2.0
    # a meta line that makes no sense is a broken line like any other
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"format": "latentperform-events", "version": 1, "audio": {"path": "x.flac"}}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:1"):
        ReplayInput(bad)


def test_a_broken_log_names_file_and_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text('{"format": "latentperform-events", "version": 1}\n{"t": 0, "source": "midi", "address": "a", "value": 1}\n{"t": 1, "value": 2}\n')
    with pytest.raises(UserError, match=r"bad.jsonl:3"):
        ReplayInput(path)
    with pytest.raises(UserError, match="cannot read"):
        ReplayInput(tmp_path / "missing.jsonl")
    with pytest.raises(UserError, match="cannot write"):
        EventLog(tmp_path / "no" / "dir" / "log.jsonl")


def test_learner_ignores_jitter_and_clock_then_picks_the_moved_fader():
    lr = Learner("latent/truncation")
    noise = [ev("clock/beat", 1.0, 0.0, "clock"), ev("audio/bass", 0.9, 0.0, "audio"),
             ev("midi/cc/0/3", 64 / 127, 0.0), ev("midi/cc/0/3", 65 / 127, 0.01), ev("midi/cc/0/3", 64 / 127, 0.02),
             ev("midi/note/0/36", 0.0, 0.03), ev("midi/cc/0/7", 10 / 127, 0.04)]
    assert lr.feed(noise) is None
    got = lr.feed([ev("midi/cc/0/7", 11 / 127, 0.05), ev("midi/cc/0/7", 14 / 127, 0.06)])
    assert got.source == "midi/cc/0/7" and got.target == "latent/truncation" and got.options == {}
    assert lr.feed([ev("midi/cc/0/1", 1.0, 0.1)]) is got  # the first answer stays


def test_learner_takes_pads_at_once_and_spots_relative_encoders():
    assert Learner("latent/keyframe/next").feed([ev("midi/note/9/40", 0.8, 0.0)]).source == "midi/note/9/40"
    enc = Learner("latent/direction/0").feed([ev("midi/cc/1/16", 1 / 127, k * 0.01) for k in range(3)])
    assert enc.source == "midi/cc/1/16" and enc.options == {"takeover": "relative", "encoding": "twos"}
    off = Learner("latent/direction/0").feed([ev("midi/cc/1/16", 65 / 127, k * 0.01) for k in range(3)])
    assert off.options == {"takeover": "relative", "encoding": "offset"}
    osc = Learner("latent/xy").feed([ev("osc/pad", (0.5, 0.5), 0.0, "osc"), ev("osc/pad", (0.5, 0.6), 0.1, "osc")])
    assert osc.source == "osc/pad"


PATCH = """\
# My show. Comments must survive learning.
[model]
name = "builtin"  # the CPPN

# Faders
[[mapping]]
source = "midi/cc/0/0"   # fader 1
target = "latent/truncation"
range = [0.3, 1.2]        # keep it tame

[[mapping]]
source = "audio/bass"
target = "shader/grade/exposure"
"""


def test_write_mapping_updates_in_place_and_keeps_comments(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    os.chmod(path, 0o644)
    assert write_mapping(path, "midi/cc/0/16", "latent/truncation", takeover="pickup") == 0
    text = path.read_text()
    for comment in ("# My show.", "# the CPPN", "# Faders", "# keep it tame"):
        assert comment in text
    doc = tomlkit.parse(text)
    m = doc["mapping"][0]
    assert m["source"] == "midi/cc/0/16" and m["takeover"] == "pickup" and list(m["range"]) == [0.3, 1.2]
    assert len(doc["mapping"]) == 2 and oct(path.stat().st_mode & 0o777) == "0o644"

    assert write_mapping(path, "midi/cc/0/17", "latent/direction/0", takeover="relative",
                         encoding="twos", range=(-1, 1)) == 2
    assert write_mapping(path, "midi/cc/0/16", "latent/truncation", takeover=None) == 0
    doc = tomlkit.parse(path.read_text())
    assert [m["target"] for m in doc["mapping"]] == ["latent/truncation", "shader/grade/exposure", "latent/direction/0"]
    assert "takeover" not in doc["mapping"][0]
    assert dict(doc["mapping"][2]) == {"source": "midi/cc/0/17", "target": "latent/direction/0",
                                       "takeover": "relative", "encoding": "twos", "range": [-1, 1]}
    assert "# keep it tame" in path.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_write_mapping_into_a_patch_without_mappings_and_bad_files(tmp_path):
    path = tmp_path / "empty.toml"
    path.write_text('# nothing mapped yet\n[model]\nname = "builtin"\n')
    assert write_mapping(path, "midi/note/0/36", "latent/keyframe/next") == 0
    doc = tomlkit.parse(path.read_text())
    assert doc["mapping"][0]["source"] == "midi/note/0/36" and doc["model"]["name"] == "builtin"
    assert path.read_text().startswith("# nothing mapped yet")
    bad = tmp_path / "bad.toml"
    bad.write_text("[model\n")
    with pytest.raises(UserError, match="not valid TOML"):
        write_mapping(bad, "a", "b")
    bad.write_text('mapping = "oops"\n')
    with pytest.raises(UserError, match="array of tables"):
        write_mapping(bad, "a", "b")
