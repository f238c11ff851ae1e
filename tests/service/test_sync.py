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


def _lose_then_gap(leader, a, b):
    """b misses ticks 0..3 (the repeats cover them), then ticks 5..29 (frames 8..25 fall out of
    the repeats); ticks 5..29 carry an event each."""
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
        leader.tick(k, [("osc", "osc/x", float(k))])
    leader.targets = [b.address]
    leader.tick(30, [])                       # covers frames 26..33


def test_a_lost_datagram_loses_nothing_and_a_long_gap_is_fetched_from_the_leader(pair):
    leader, (a, b) = pair
    _lose_then_gap(leader, a, b)
    assert _until(lambda: b.complete_upto == 33)
    assert b.lost_frames == 0 and b.fetched_frames == 26 - 8 and leader.served == 1
    got = {k: b.plan(k).events for k in range(8, 34)}
    # frame k + 3 has tick k's event: the ones from the log (8..25) and from the repeats alike
    assert got == {f: ((("osc", "osc/x", float(f - 3)),) if 8 <= f <= 32 else ()) for f in range(8, 34)}


def test_without_the_leader_log_a_long_gap_is_counted_and_passed_over():
    a, b = (SyncFollower(("127.0.0.1", _free_port()), lost_after=0.3) for _ in range(2))
    leader = SyncLeader([a.address, b.address], delay=3, redundancy=8, serve=None)
    try:
        _lose_then_gap(leader, a, b)
        assert _until(lambda: b.complete_upto == 33)
        assert b.lost_frames == 26 - 8 and b.fetched_frames == 0   # frames 8..25 fell out of the repeats
        assert b.plan(8).events == () and b.plan(26).events == (("osc", "osc/x", 23.0),)
    finally:
        leader.close()
        a.close()
        b.close()


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


def test_a_follower_that_joins_late_gets_every_frame_from_the_leaders_log():
    leader = SyncLeader([("127.0.0.1", _free_port())], delay=3, redundancy=8)
    late = None
    try:
        leader.begin(30.0)
        leader.announce()
        sent = {}
        for k in range(200):                  # nobody listens yet
            evs = [("osc", "param/latent/truncation", k / 200)] if k % 7 == 0 else []
            sent[k + 3] = tuple(evs)
            leader.tick(k, evs)
        late = SyncFollower(("127.0.0.1", _free_port()), lost_after=0.5)
        leader.targets = [late.address]
        leader.tick(200, [])                  # its first packet covers frames 196..203 only
        assert _until(lambda: late.complete_upto == 203)
        assert late.fetched_frames == 196 and late.lost_frames == 0 and leader.served == 1
        assert late.plan(0).action == "reset"
        got = {f: late.plan(f).events for f in range(204)}
        assert got == {f: sent.get(f, ()) for f in range(204)}
        assert late.figures()["fetched_frames"] == 196
    finally:
        leader.close()
        if late is not None:
            late.close()


def test_a_trimmed_log_or_an_unreachable_leader_loses_frames_and_the_show_goes_on():
    target = _free_port()
    leader = SyncLeader([("127.0.0.1", target)], delay=3, redundancy=8, log_limit=10)
    try:
        leader.begin(30.0)
        for k in range(100):
            leader.tick(k, [("osc", "osc/x", float(k))])   # the log keeps the last 10 events
        assert leader.reply({"v": 1, "s": leader.session, "from": 0, "to": 50}) == \
            {"v": 1, "s": leader.session, "gone": 93}
        f = SyncFollower(("127.0.0.1", _free_port()), lost_after=0.5)
        try:
            leader.targets = [f.address]
            leader.tick(100, [])              # covers 96..103; 0..92 gone, 93..95 still kept
            assert _until(lambda: f.complete_upto == 103)
            assert f.lost_frames == 93 and f.fetched_frames == 3 and "no longer has" in f.last_error
            assert f.plan(0).action == "reset" and f.plan(0).events == ()
            assert [f.plan(k).events for k in (93, 96)] == [(("osc", "osc/x", 90.0),), (("osc", "osc/x", 93.0),)]
        finally:
            f.close()
    finally:
        leader.close()
    # a packet naming a catch-up port nobody serves: the gap is lost, said, and not waited for
    f = SyncFollower(("127.0.0.1", _free_port()), lost_after=0.5)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(json.dumps({"v": 1, "s": "x", "k": 50, "lo": 46, "b": [0, time.time(), 30], "d": 3,
                             "w": time.time(), "e": {}, "c": _free_port()}).encode(), f.address)
        assert _until(lambda: f.complete_upto == 53)
        assert f.lost_frames == 46 and "cannot fetch frames 0..45" in f.last_error
    finally:
        s.close()
        f.close()


def test_bad_catch_up_requests_get_an_error_and_the_leader_goes_on():
    leader = SyncLeader([("127.0.0.1", _free_port())])
    try:
        leader.begin(30.0)
        leader.tick(0, [("osc", "osc/x", 1.0)])
        answers = []
        for junk in (b"\xff\xfe\n", b"[1, 2]\n", b'{"v": 1, "s": "other", "from": 0, "to": 3}\n',
                     json.dumps({"v": 1, "s": leader.session, "from": 5, "to": 2}).encode() + b"\n",
                     json.dumps({"v": 1, "s": leader.session, "from": "0; rm", "to": 2}).encode() + b"\n",
                     json.dumps({"v": 1, "s": leader.session, "from": 9, "to": 20}).encode() + b"\n",
                     b"x" * 10000):
            with socket.create_connection(leader.serve_address, timeout=3) as c:
                c.sendall(junk)
                answers.append(json.loads(c.makefile().readline()))
        assert all("error" in a for a in answers), answers
        with socket.create_connection(leader.serve_address, timeout=3) as c:   # still serving
            c.sendall(json.dumps({"v": 1, "s": leader.session, "from": 0, "to": 9}).encode() + b"\n")
            good = json.loads(c.makefile().readline())
        assert good == {"v": 1, "s": leader.session, "from": 0, "to": 3, "e": {"3": [["osc", "osc/x", 1.0]]}}
        assert leader.serve_address[0] == "127.0.0.1"   # followers on the loopback: served there only
    finally:
        leader.close()


@pytest.mark.parametrize("interface", ["127.0.0.1", None])
def test_multicast_reaches_two_followers_in_one_group(interface):
    """Real multicast: a group joined by two followers on one interface (given, or the default
    one: the interface the system routes the group from), the leader sending from it."""
    from latentperform.service.sync import default_interface
    group, port = "239.255.76.99", _free_port()
    followers = [SyncFollower((group, port), interface=interface, lost_after=0.5) for _ in range(2)]
    leader = SyncLeader([(group, port)], interface=interface, delay=3, redundancy=8)
    try:
        chosen = interface or default_interface(group)
        assert leader.multicast_interface == chosen and all(f.interface == chosen for f in followers)
        leader.begin(30.0)
        leader.announce()
        for k in range(20):
            leader.tick(k, [("osc", "osc/x", float(k))] if k % 5 == 0 else [])
        assert _until(lambda: all(f.complete_upto == 22 for f in followers))
        for f in followers:
            assert f.plan(0).action == "reset"
            got = [f.plan(k).events for k in range(23)]
            assert got == [(("osc", "osc/x", float(k - 3)),) if k >= 3 and (k - 3) % 5 == 0 else () for k in range(23)]
            assert f.leader_at == (chosen, leader.serve_address[1]) and f.lost_frames == 0
        # a datagram to another group on the same port does not reach them
        other = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        other.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(chosen))
        other.sendto(b"not for you", ("239.255.76.98", port))
        other.close()
        time.sleep(0.2)
        assert all(f.bad == 0 for f in followers)
    finally:
        leader.close()
        for f in followers:
            f.close()


@pytest.mark.parametrize("args, message", [
    (["--sync-interface", "eth0"], 'sync: expected the IPv4 address of an interface, got "eth0"'),
    (["--sync-serve", "nowhere:x"], 'sync: expected "HOST:PORT" or a port number, got "nowhere:x"'),
    (["--sync-serve", "192.0.2.254:9411"], "sync: cannot open the socket"),
])
def test_bad_sync_options_are_one_line_errors(tmp_path, capsys, args, message):
    from latentperform.cli import main
    patch = tmp_path / "p.toml"
    patch.write_text('[model]\nkind = "builtin"\nresolution = 32\n[output]\nsize = [32, 32]\n')
    rc = main(["run", "--headless", "--no-audio", "--seconds", "1", "--sync", "leader",
               "--sync-to", f"127.0.0.1:{_free_port()}", *args, str(patch)])
    err = capsys.readouterr().err.strip()
    assert rc != 0 and message in err and len(err.splitlines()) == 1, err


def test_a_follower_too_slow_to_catch_up_shows_its_frames_late_and_says_so(tmp_path):
    """A machine that renders the show slower than its frame rate never catches up: after the
    warm-up and `give_up_s` it presents its frames as they come (late) and reports it once."""
    import threading

    from latentperform.clock import FixedStepClock
    from latentperform.config import DEFAULT_PATCH
    from latentperform.engine import open_show
    from latentperform.engine.instep import InStep
    from latentperform.models import BuiltinGenerator
    from latentperform.patch import load_patch
    from latentperform.render import HeadlessSurface
    from dataclasses import replace

    class Slow(HeadlessSurface):
        def read_pixels(self):            # every frame is read back in step: 60 ms a frame, < 20 fps
            time.sleep(0.06)
            return super().read_pixels()

    base = load_patch(DEFAULT_PATCH)
    patch = replace(base, inputs=replace(base.inputs, audio=replace(base.inputs.audio, enabled=False)))
    engines = []

    def open_engine(surface, generator):
        eng = open_show(patch, surface=surface, clock=FixedStepClock(20.0), fps=20.0,
                        generator=generator or BuiltinGenerator(resolution=16), offline=True, stage=False)
        engines.append(eng)
        return eng

    port = _free_port()
    step = InStep(role="follower", surface=Slow((32, 32)), open_engine=open_engine, fps=20.0,
                  listen=("127.0.0.1", port), warmup_s=0.3, give_up_s=0.5, present_log=tmp_path / "p.csv")
    leader = SyncLeader([("127.0.0.1", port)], delay=3)
    leader.begin(20.0, start=time.time() - 1.0)   # the leader has played 1 s already
    done = threading.Event()

    def lead():
        k = 0
        while not done.is_set():
            if time.time() >= leader.when(k) - 0.05:
                leader.tick(k, [])
                k += 1
            else:
                time.sleep(0.005)

    th = threading.Thread(target=lead, daemon=True)
    th.start()
    try:
        step.run(seconds=4.0)
    finally:
        done.set()
        th.join(2)
        leader.close()
    said = [e for eng in engines for e in eng.stats.errors if "renders slower" in e]
    assert step.too_slow and len(said) == 1, said
    shown = (tmp_path / "p.csv").read_text().splitlines()
    assert len(shown) >= 10           # frames shown (late) after it gave up catching up


def test_the_leaders_log_against_a_plain_dict():
    """The compact log (one buffer) gives what a dict of every frame's events would, trimmed."""
    from latentperform.service.sync import _EventLog

    log, ref = _EventLog(limit=50), {}
    for f in range(0, 400, 3):
        evs = [("osc", f"osc/{i}", float(f + i)) for i in range(f % 4)]
        if evs:
            log.add(f, evs)
            ref[f] = [[s, a, v] for s, a, v in evs]
    assert 45 <= log.events <= 50 and log.floor > 0
    kept = {f: e for f, e in ref.items() if f >= log.floor}
    assert sum(len(e) for e in kept.values()) == log.events
    for a, c in ((log.floor, 399), (log.floor + 1, log.floor + 7), (390, 399), (398, 399)):
        got = json.loads("{" + log.between(a, c).decode() + "}")
        assert got == {str(f): e for f, e in kept.items() if a <= f <= c}


def test_the_patch_keys_of_sync_are_checked_with_file_and_line(tmp_path):
    from latentperform.config import UserError
    from latentperform.patch import load_patch

    good = tmp_path / "good.toml"
    good.write_text('[installation]\nsync_interface = "127.0.0.1"\nsync_serve = "127.0.0.1:0"\nsync_warmup = 2.5\n')
    inst = load_patch(good).installation
    assert (inst.sync_interface, inst.sync_serve, inst.sync_warmup) == ("127.0.0.1", "127.0.0.1:0", 2.5)
    bad = tmp_path / "bad.toml"
    bad.write_text('[installation]\nsync_interface = "eth0"\nsync_serve = "x:y"\nsync_warmup = -1\n')
    with pytest.raises(UserError) as e:
        load_patch(bad)
    text = str(e.value)
    assert f"{bad}:2: installation.sync_interface" in text and f"{bad}:3: installation.sync_serve" in text
    assert f"{bad}:4: installation.sync_warmup" in text


def test_a_follower_fetches_no_further_ahead_of_its_show_than_fetch_ahead():
    leader = SyncLeader([("127.0.0.1", _free_port())], delay=3, redundancy=8)
    late = None
    try:
        leader.begin(30.0)
        for k in range(300):
            leader.tick(k, [("osc", "osc/x", float(k))])
        late = SyncFollower(("127.0.0.1", _free_port()), lost_after=5.0, fetch_ahead=50)
        leader.targets = [late.address]
        leader.tick(300, [])
        assert _until(lambda: late.complete_upto == 50)
        time.sleep(0.3)
        assert late.complete_upto == 50 and late.fetched_frames == 51   # waits for the show
        assert late.plan(0).action == "reset"
        got = []
        for f in range(304):   # the show goes on: the fetcher keeps ahead of it, every frame exact
            assert _until(lambda: late.complete_upto >= f), f
            got.append(late.plan(f).events)
        assert got == [(("osc", "osc/x", float(f - 3)),) if 3 <= f <= 302 else () for f in range(304)]
        assert late.lost_frames == 0 and late.fetches >= 6
    finally:
        leader.close()
        if late is not None:
            late.close()
