"""The leader's frame clock and events over real UDP sockets on the loopback."""

import json
import socket
import time

import pytest

from latentperform.service.sync import SyncFollower, SyncLeader, parse_address


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _until(cond, timeout=3.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.005)
    return False


@pytest.fixture
def pair():
    followers = [SyncFollower(("127.0.0.1", _free_port()), lost_after=0.3) for _ in range(2)]
    leader = SyncLeader([f.address for f in followers], delay=3, redundancy=8)
    yield leader, followers
    leader.close()
    for f in followers:
        f.close()


def test_events_reach_every_follower_at_the_same_frame(pair):
    leader, followers = pair
    leader.begin(30.0)
    leader.announce()
    assert _until(lambda: all(f.session == leader.session for f in followers))
    assert [f.plan(0).action for f in followers] == ["reset", "reset"]
    applied_by_leader = {}
    for k in range(10):
        evs = [("osc", "param/latent/truncation", 0.1 * k)] if k % 3 == 0 else []
        applied_by_leader[k] = leader.tick(k, evs)
    assert _until(lambda: all(f.complete_upto == 9 + 3 for f in followers))
    for f in followers:
        for k in range(13):
            plan = f.plan(k)
            assert plan.action == "render" and plan.frame == k
            assert plan.at == pytest.approx(leader.when(k))
            if k < 10:
                assert list(plan.events) == applied_by_leader[k]   # the leader applies the same, at k
            expected = [("osc", "param/latent/truncation", 0.1 * (k - 3))] if k >= 3 and (k - 3) % 3 == 0 else []
            assert list(plan.events) == expected
        assert f.plan(13).action == "hold"    # its events are not known yet


def test_a_lost_datagram_loses_nothing_and_a_long_gap_is_counted(pair):
    leader, (a, b) = pair
    leader.begin(30.0)
    leader.targets = [a.address]              # b hears nothing for a few ticks: real loss
    for k in range(4):                        # ticks 0..3 never reach b
        leader.tick(k, [("midi", "midi/cc/0/1", float(k))])
    leader.targets = [a.address, b.address]
    leader.tick(4, [])                        # repeats frames 0..7 (redundancy 8)
    assert _until(lambda: b.complete_upto == 7)
    assert b.plan(0).action == "reset"
    got = {k: b.plan(k).events for k in range(8)}
    assert got[3] == (("midi", "midi/cc/0/1", 0.0),) and got[6] == (("midi", "midi/cc/0/1", 3.0),)
    assert got[7] == () and b.lost_frames == 0   # the repeats covered the gap
    leader.targets = [a.address]
    for k in range(5, 30):
        leader.tick(k, [])
    leader.targets = [b.address]
    leader.tick(30, [])                       # covers frames 26..33
    assert _until(lambda: b.complete_upto == 33)
    assert b.lost_frames == 26 - 8            # frames 8..25 fell out of the repeats


def test_hold_when_the_leader_is_lost_go_on_when_it_is_back_reset_on_a_new_one(pair):
    leader, (a, _) = pair
    leader.begin(30.0)
    leader.tick(0, [])
    assert _until(lambda: a.complete_upto == 3)
    assert a.plan(0).action == "reset"
    assert a.plan(0).action == "render"
    time.sleep(0.4)                           # lost_after is 0.3 s
    assert a.plan(1).action == "hold" and not a.connected
    leader.tick(1, [("osc", "osc/x", 1.0)])  # the same leader again: follow on
    assert _until(lambda: a.connected)
    assert a.plan(1).action == "render"
    again = SyncLeader([a.address], delay=3)  # a restarted leader: a new session
    try:
        again.begin(30.0)
        again.announce()
        assert _until(lambda: a.session == again.session)
        plan = a.plan(2)
        assert plan.action == "reset" and plan.frame == 0
        first = a.plan(0)
        assert first.action == "render" and first.at == pytest.approx(again.when(0))
    finally:
        again.close()


def test_bad_datagrams_are_counted_and_ignored(pair):
    _, (a, _) = pair
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for junk in (b"\xff\x00", b"{}", json.dumps({"v": 1, "s": "x", "k": "one"}).encode(),
                 json.dumps({"v": 1, "s": "x", "k": 0, "lo": 0, "b": [0, 0, 30], "d": 3, "w": 0,
                             "e": {"0": [["osc", "osc/x", "import os"]]}}).encode()):
        s.sendto(junk, a.address)
    s.close()
    assert _until(lambda: a.bad == 4)
    assert a.session is None and a.plan(0).action == "wait"


def test_parse_address():
    assert parse_address("127.0.0.2:9500") == ("127.0.0.2", 9500)
    assert parse_address("9500") == ("127.0.0.1", 9500)
    assert parse_address(":9500", "0.0.0.0") == ("0.0.0.0", 9500)
    with pytest.raises(ValueError, match="port"):
        parse_address("host:99999")
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address("host:port")
