"""OSC out: state feedback received by a real UDP socket, decoded with python-osc's own parser."""

from __future__ import annotations

import socket

import pytest
from pythonosc.osc_message import OscMessage

from latentperform.config import UserError
from latentperform.events import ParamState
from latentperform.inputs.osc import OscFeedback


@pytest.fixture
def listener():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    s.settimeout(0.5)

    def received() -> list[tuple]:
        out = []
        s.settimeout(0.2)
        while True:
            try:
                data = s.recv(65535)
            except socket.timeout:
                return out
            m = OscMessage(data)
            out.append((m.address, *m.params))

    yield s.getsockname()[1], received
    s.close()


def test_state_is_sent_on_change_only(listener):
    port, received = listener
    fb = OscFeedback([("127.0.0.1", port)])
    state = ParamState(values={"latent/truncation": 0.5, "shader/feedback/amount": 0.0}, tempo=120.0, beat=3.2)
    fb.send_state(state, {"fps": 60.0, "keyframe": 2})
    got = received()
    assert ("/lp/beat", 3) in got
    assert ("/lp/tempo", 120.0) in got
    assert ("/lp/fps", 60.0) in got
    assert ("/lp/keyframe/current", 2) in got
    assert ("/lp/param/latent/truncation", 0.5) in got
    assert ("/lp/param/shader/feedback/amount", 0.0) in got

    fb.send_state(state.evolve(beat=3.9), {"fps": 59.0, "keyframe": 2})
    assert received() == []  # same beat, same tempo, fps sent at most once a second, no change

    fb.send_state(state.evolve(values={"latent/truncation": 0.75, "shader/feedback/amount": 0.0},
                               beat=4.1, tempo=128.0), {"keyframe": 3})
    assert sorted(received()) == sorted([("/lp/beat", 4), ("/lp/tempo", 128.0), ("/lp/keyframe/current", 3),
                                         ("/lp/param/latent/truncation", 0.75)])
    fb.close()


def test_parameter_messages_are_rate_limited_per_tick_and_catch_up(listener):
    port, received = listener
    fb = OscFeedback([f"127.0.0.1:{port}"], max_params_per_tick=4)
    values = {f"p/{k}": float(k) for k in range(10)}
    fb.send_state(ParamState(values=values))
    first = [m for m in received() if m[0].startswith("/lp/param/")]
    assert len(first) == 4
    fb.send_state(ParamState(values={**values, "p/9": 99.0}))  # p/9 changed again while waiting
    fb.send_state(ParamState(values={**values, "p/9": 99.0}))
    rest = [m for m in received() if m[0].startswith("/lp/param/")]
    assert len(rest) == 6
    assert ("/lp/param/p/9", 99.0) in rest and ("/lp/param/p/9", 9.0) not in rest
    fb.close()


def test_errors_reach_every_target_and_a_dead_target_is_harmless(listener):
    port, received = listener
    dead = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    dead.bind(("127.0.0.1", 0))
    dead_port = dead.getsockname()[1]
    dead.close()
    fb = OscFeedback([("127.0.0.1", dead_port), {"host": "127.0.0.1", "port": port}])
    for _ in range(3):
        fb.send_error("model failed: out of memory")
    assert received() == [("/lp/error", "model failed: out of memory")] * 3
    fb.close()


def test_bad_target_is_a_user_error():
    with pytest.raises(UserError, match="HOST:PORT"):
        OscFeedback(["localhost"])


def test_a_slow_name_lookup_never_holds_up_a_tick(listener, monkeypatch):
    """A feedback target by name is resolved on a thread of the feedback's own; a tick sends to
    what is resolved and never waits (here the look-up is made to take 2 s: a dead DNS server)."""
    import threading
    import time as _time
    port, received = listener
    real = socket.getaddrinfo
    released = threading.Event()

    def slow_lookup(host, *a, **k):
        released.wait(2.0)
        return real("127.0.0.1", *a, **k)

    monkeypatch.setattr(socket, "getaddrinfo", slow_lookup)
    fb = OscFeedback([("127.0.0.1", port), f"studio-pc.example:{port}"])
    t0 = _time.perf_counter()
    fb.send("/lp/beat", 1)
    assert _time.perf_counter() - t0 < 0.5
    assert received() == [("/lp/beat", 1)]  # the numeric target got it, the other was skipped
    assert fb.stats["unresolved"] == 1
    released.set()
    deadline = _time.monotonic() + 3
    while _time.monotonic() < deadline and len(fb._resolved) < 2:
        _time.sleep(0.01)
    fb.send("/lp/beat", 2)
    assert received() == [("/lp/beat", 2), ("/lp/beat", 2)]  # both, once the name resolved
    fb.close()


def _oscdump(port: int):
    import shutil
    import subprocess
    if shutil.which("oscdump") is None:
        pytest.skip("liblo-tools (oscdump) is not installed: scripts/install.sh --test installs it")
    return subprocess.Popen(["oscdump", "-L", str(port)], stdout=subprocess.PIPE, text=True)


def _free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_controls_get_their_values_back_on_change_and_all_again_on_resend():
    """Two-way OSC as TouchOSC sees it, received by liblo's oscdump (a client nobody here wrote)."""
    import time
    port = _free_udp_port()
    dump = _oscdump(port)
    try:
        time.sleep(0.3)   # oscdump binds its port
        fb = OscFeedback([("127.0.0.1", port)])
        assert fb.send_controls({"/touch/fader1": (63.5,), "/pad": (0.25, 0.75)}) == 2
        assert fb.send_controls({"/touch/fader1": (63.5,), "/pad": (0.25, 0.75)}) == 0     # unchanged
        assert fb.send_controls({"/touch/fader1": (10.0,), "/pad": (0.5, 0.75)}, skip={"/pad"}) == 1  # held off
        state = ParamState(values={"latent/xy": 0.0, "latent/xy/x": 0.5, "latent/xy/y": 0.25}, tempo=120.0)
        fb.send_state(state)
        fb.resend()
        assert fb.send_controls({"/touch/fader1": (10.0,)}) == 1
        fb.send_state(state)
        fb.send("/lp/end")
        fb.close()
        lines = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            line = dump.stdout.readline()
            lines.append(line.split()[1:])      # "<time tag> /address types values..."
            if "/lp/end" in line:
                break
    finally:
        dump.kill()
        dump.wait()
    sent = [(w[0], w[1], *[float(v) for v in w[2:]]) for w in lines if w and w[0] != "/lp/end"]
    assert ("/touch/fader1", "f", 63.5) in sent and ("/pad", "ff", 0.25, 0.75) in sent
    assert [m for m in sent if m[0] == "/touch/fader1"] == [("/touch/fader1", "f", 63.5), ("/touch/fader1", "f", 10.0),
                                                             ("/touch/fader1", "f", 10.0)]   # again after resend
    assert [m for m in sent if m[0] == "/pad"] == [("/pad", "ff", 0.25, 0.75)]
    assert not any(m[0] == "/lp/param/latent/xy" for m in sent)                 # no lone vector name
    assert [m for m in sent if m[0] == "/lp/param/latent/xy/x"] == [("/lp/param/latent/xy/x", "f", 0.5)] * 2
    assert sum(m[0] == "/lp/tempo" for m in sent) == 2                          # resend: the full state again
