"""`run --supervise` without systemd: a real parent, a real child speaking the notify protocol
(pinger.py), kill -9 and SIGSTOP from outside, restarts timed."""

import os
import signal
import sys
import threading
import time
from pathlib import Path

from latentperform.service.state import read_json
from latentperform.service.supervise import Supervisor

PINGER = str(Path(__file__).with_name("pinger.py"))


def _pids(path: Path) -> list[tuple[int, float]]:
    if not path.exists():
        return []
    return [(int(a), float(b)) for a, b in (line.split() for line in path.read_text().split("\n") if line)]


def _wait_for(cond, timeout: float) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return True
        time.sleep(0.02)
    return False


def _start(sup: Supervisor) -> threading.Thread:
    sup.handle_signals = False  # signal handlers are the main thread's; the test calls stop()
    th = threading.Thread(target=sup.run, daemon=True)
    th.start()
    return th


def test_kill_9_and_a_stall_are_restarted_in_time(tmp_path):
    pidfile = tmp_path / "pids"
    sup = Supervisor([sys.executable, PINGER, str(pidfile)], name="t", watchdog_s=1.0, backoff_min=0.2,
                     backoff_max=0.8, stable_s=30.0, kill_grace_s=0.5, state_folder=tmp_path, max_restarts=5)
    th = _start(sup)
    try:
        assert _wait_for(lambda: len(_pids(pidfile)) == 1 and sup.ready, 20)
        first, _ = _pids(pidfile)[0]
        assert _wait_for(lambda: (read_json(tmp_path / "t.supervise.json") or {}).get("ready"), 5)
        killed = time.time()
        os.kill(first, signal.SIGKILL)
        # restarted within the back-off (0.2 s) plus a Python start (generous on a loaded machine)
        assert _wait_for(lambda: len(_pids(pidfile)) == 2, 15)
        second, started = _pids(pidfile)[1]
        assert second != first and started - killed < 15
        assert sup.restarts[0].reason == "signal 9" and sup.restarts[0].delay_s == 0.2
        assert _wait_for(lambda: sup.ready, 15)

        # a stall: the process is there but presents nothing (SIGSTOP freezes every thread)
        os.kill(second, signal.SIGSTOP)
        stalled = time.time()
        assert _wait_for(lambda: len(_pids(pidfile)) == 3, 20)
        third, started = _pids(pidfile)[2]
        reason = sup.restarts[1].reason
        assert reason.startswith("stall: no frame for"), reason
        # noticed after the watchdog period (1 s) and not much later (the supervisor polls at 10 Hz)
        noticed = sup.restarts[1].at - stalled
        assert 0.9 <= noticed < 1.0 + 0.5 + 3.0, noticed   # period + kill grace + slack for load
        assert sup.restarts[1].delay_s == 0.4               # back-off doubled: both died young
        state = read_json(tmp_path / "t.supervise.json")
        assert state["restarts"] == 2 and state["last_restarts"][1]["reason"] == reason
        try:
            os.kill(second, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive or _wait_for(lambda: not Path(f"/proc/{second}").exists(), 5)
    finally:
        sup.stop()
        th.join(15)
    assert not th.is_alive()
    assert sup.child.poll() is not None  # stopping the supervisor stops the show


def test_backoff_doubles_then_resets_after_a_stable_run(tmp_path):
    sup = Supervisor(["true"], backoff_min=1.0, backoff_max=8.0, stable_s=10.0)
    assert [sup._next_delay(0.5) for _ in range(5)] == [1.0, 2.0, 4.0, 8.0, 8.0]
    assert sup._next_delay(12.0) == 1.0 and sup._next_delay(1.0) == 2.0


def test_a_child_that_never_gets_ready_is_restarted(tmp_path):
    sup = Supervisor([sys.executable, "-c", "import time; time.sleep(30)"], name="slow", start_timeout_s=0.5,
                     backoff_min=0.05, kill_grace_s=0.2, state_folder=tmp_path, max_restarts=0)
    t0 = time.monotonic()
    th = _start(sup)
    th.join(15)
    assert not th.is_alive() and time.monotonic() - t0 < 10
    assert sup.restarts[0].reason == "not ready after 0.5 s" or sup.restarts[0].reason.startswith("not ready")
