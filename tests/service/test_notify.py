"""The notify protocol against a real AF_UNIX datagram socket, bound here as systemd binds it."""

import os
import socket
import time

import pytest

from latentperform.service.notify import Notifier, watchdog_period
from latentperform.service.supervise import parse_message


@pytest.fixture
def manager(tmp_path):
    """A service manager's end: a bound datagram socket and the environment it would hand over."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "2000000"}
    sock.close()


def test_ready_status_watchdog_reach_the_socket(manager):
    sock, env = manager
    n = Notifier(env)
    assert n.enabled and n.period == 2.0
    assert n.ready("playing")
    msg = parse_message(sock.recv(4096))
    assert msg["READY"] == "1" and msg["MAINPID"] == str(os.getpid()) and msg["STATUS"] == "playing"
    assert n.watchdog(now=100.0)
    assert parse_message(sock.recv(4096)) == {"WATCHDOG": "1"}
    n.status("30 fps\nno errors")  # one line: a newline would split it into two fields
    assert parse_message(sock.recv(4096)) == {"STATUS": "30 fps no errors"}
    n.close()


def test_watchdog_pings_at_most_twice_a_period(manager):
    sock, env = manager
    n = Notifier(env)
    sent = [n.watchdog(now=10.0 + k / 10) for k in range(30)]  # 3 s of frames at 10 fps, period 2 s
    assert sent.count(True) == 3 and sent[0] and sent[10] and sent[20]
    for _ in range(3):
        assert parse_message(sock.recv(4096)) == {"WATCHDOG": "1"}
    sock.settimeout(0.05)
    with pytest.raises(socket.timeout):
        sock.recv(4096)


def test_abstract_socket_name():
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    name = f"lp-test-{os.getpid()}"
    sock.bind(b"\0" + name.encode())
    sock.settimeout(2.0)
    try:
        assert Notifier({"NOTIFY_SOCKET": "@" + name}).stopping()
        assert parse_message(sock.recv(4096)) == {"STOPPING": "1"}
    finally:
        sock.close()


def test_without_a_manager_everything_is_a_no_op(tmp_path):
    n = Notifier({})
    assert not n.enabled and not n.ready() and not n.watchdog()
    # a manager that went away: no exception, the failure is counted
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody"), "WATCHDOG_USEC": "1000000"})
    assert not gone.watchdog() and gone.failed == 1


def test_watchdog_period_is_for_its_own_pid_only():
    assert watchdog_period({"WATCHDOG_USEC": "500000"}) == 0.5
    assert watchdog_period({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}) == 0.5
    assert watchdog_period({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}) is None
    assert watchdog_period({"WATCHDOG_USEC": "0"}) is None
    assert watchdog_period({"WATCHDOG_USEC": "soon"}) is None
    assert watchdog_period({}) is None


def test_a_manager_that_does_not_read_never_blocks_the_show(manager):
    sock, env = manager
    n = Notifier(env)
    t0 = time.monotonic()
    results = [n.status(f"frame {k}") for k in range(500)]   # nobody reads: the queue fills
    assert time.monotonic() - t0 < 2.0
    assert results[0] and not results[-1] and n.failed > 0
    assert parse_message(sock.recv(4096)) == {"STATUS": "frame 0"}  # what fitted is there, in order
