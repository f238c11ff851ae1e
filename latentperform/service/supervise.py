"""`latentperform run --supervise`: the watchdog and the restarts of a service manager, for a
machine without systemd.

The supervisor is the child's service manager in miniature: it binds an AF_UNIX datagram socket,
hands it to the child in $NOTIFY_SOCKET with $WATCHDOG_USEC (the protocol of notify.py), and then

- a child that exits (a crash, kill -9, a daily restart) is started again, after a back-off that
  doubles from `backoff_min` up to `backoff_max` while the child keeps dying young, and comes back
  to `backoff_min` once a child has run `stable_s`;
- a child that has said READY=1 and then sends no WATCHDOG=1 for `watchdog_s` (a render loop that
  stopped presenting frames: a hung driver, a deadlock, SIGSTOP) is killed (SIGTERM, SIGKILL after
  `kill_grace_s`) and started again; so is one that is not READY within `start_timeout_s`;
- SIGTERM or SIGINT to the supervisor goes on to the child, and then both end.

Every restart is one line on stderr and is counted in the state file `<name>.supervise.json`.
"""

from __future__ import annotations

import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from .state import state_dir, write_json

__all__ = ["Supervisor", "Restart"]


@dataclass
class Restart:
    at: float          # time.time() when the child ended
    reason: str        # "exit 1", "signal 9", "stall: no frame for 5.0 s", "not ready after 120 s"
    ran_s: float       # how long that child ran
    delay_s: float     # the back-off before the next one


@dataclass
class Supervisor:
    argv: list[str]
    name: str = "latentperform"
    watchdog_s: float = 10.0
    start_timeout_s: float = 120.0
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    stable_s: float = 60.0
    kill_grace_s: float = 2.0
    env: dict | None = None
    state_folder: Path | None = None
    max_restarts: int | None = None      # None: forever (an installation); tests set a number
    handle_signals: bool = True          # SIGTERM/SIGINT end it (main thread only); else call stop()
    restarts: list[Restart] = field(default_factory=list)
    child: subprocess.Popen | None = None

    def __post_init__(self) -> None:
        self._stop = False
        self._delay = self.backoff_min
        self._sock: socket.socket | None = None
        self._dir: str | None = None
        self.started_at = time.time()
        self.child_started_at: float | None = None
        self.last_status = ""
        self.ready = False

    # -- the loop --------------------------------------------------------------------------------

    def run(self) -> int:
        """Supervise until SIGTERM / SIGINT (or `max_restarts`); returns the last child's status."""
        old = {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)} \
            if self.handle_signals else {}
        self._open_socket()
        rc = 0
        try:
            while not self._stop:
                reason, ran = self._run_child()
                rc = self.child.returncode if self.child.returncode is not None else 1
                if self._stop:
                    break
                delay = self._next_delay(ran)
                self.restarts.append(Restart(time.time(), reason, ran, delay))
                self._say(f"the show ended ({reason}) after {ran:.1f} s; restart {len(self.restarts)} "
                          f"in {delay:.1f} s")
                self._write_state()
                if self.max_restarts is not None and len(self.restarts) > self.max_restarts:
                    self._say(f"giving up after {self.max_restarts} restarts")
                    break
                self._sleep(delay)
        finally:
            self._stop_child()
            for s, h in old.items():
                signal.signal(s, h)
            self._close_socket()
            self._write_state()
        return rc

    def _run_child(self) -> tuple[str, float]:
        env = dict(os.environ if self.env is None else self.env)
        env["NOTIFY_SOCKET"] = self._socket_path
        env["WATCHDOG_USEC"] = str(int(self.watchdog_s * 1e6))
        env.pop("WATCHDOG_PID", None)
        env["LP_SUPERVISED"] = self.name
        self.ready = False
        self.last_status = ""
        self._drain()  # a dead child's last words are not the new one's
        start = time.monotonic()
        self.child_started_at = time.time()
        self.child = subprocess.Popen(self.argv, env=env)
        self._write_state()
        last_ping = start
        while True:
            now = time.monotonic()
            for fields in self._receive(timeout=0.1):
                if fields.get("READY") == "1":
                    if not self.ready:
                        self.ready = True
                        self._write_state()  # `status` (and bench/soak.py) see it presenting
                    last_ping = time.monotonic()
                if fields.get("WATCHDOG") == "1":
                    last_ping = time.monotonic()
                if "STATUS" in fields:
                    self.last_status = fields["STATUS"]
            code = self.child.poll()
            if code is not None:
                return (f"signal {-code}" if code < 0 else f"exit {code}"), time.monotonic() - start
            if self._stop:
                return "stopped", time.monotonic() - start
            now = time.monotonic()
            if self.ready and now - last_ping > self.watchdog_s:
                self._kill_child()
                return f"stall: no frame for {now - last_ping:.1f} s", now - start
            if not self.ready and now - start > self.start_timeout_s:
                self._kill_child()
                return f"not ready after {self.start_timeout_s:.0f} s", now - start

    def _next_delay(self, ran: float) -> float:
        if ran >= self.stable_s:
            self._delay = self.backoff_min
        delay = self._delay
        self._delay = min(self._delay * 2, self.backoff_max)
        return delay

    # -- the child ---------------------------------------------------------------------------------

    def _kill_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        child.terminate()
        try:
            child.wait(self.kill_grace_s)
        except subprocess.TimeoutExpired:
            child.kill()  # a stopped or hung process ignores SIGTERM; SIGKILL it is
            child.wait()

    def _stop_child(self) -> None:
        child = self.child
        if child is None or child.poll() is not None:
            return
        try:
            child.send_signal(signal.SIGTERM)
            child.wait(10.0)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
        except ProcessLookupError:
            pass

    def _on_signal(self, signum, frame) -> None:
        self._stop = True

    def stop(self) -> None:
        """End `run()` (from another thread): the child gets SIGTERM, then the loop returns."""
        self._stop = True

    def _sleep(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stop and time.monotonic() < end:
            self._receive(timeout=min(0.1, max(end - time.monotonic(), 0.0)))

    # -- the notify socket -------------------------------------------------------------------------

    def _open_socket(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="lp-supervise-")
        self._socket_path = os.path.join(self._dir, "notify")
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        self._sock.bind(self._socket_path)

    def _close_socket(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
        if self._dir is not None:
            try:
                os.unlink(self._socket_path)
                os.rmdir(self._dir)
            except OSError:
                pass
            self._dir = None

    def _receive(self, timeout: float) -> list[dict]:
        out = []
        if self._sock is None:
            time.sleep(timeout)
            return out
        try:
            ready, _, _ = select.select([self._sock], [], [], timeout)
        except InterruptedError:
            return out
        while ready:
            try:
                data = self._sock.recv(4096, socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                break
            out.append(parse_message(data))
        return out

    def _drain(self) -> None:
        self._receive(timeout=0.0)

    # -- what status reads ------------------------------------------------------------------------

    def state(self) -> dict:
        return {
            "supervisor_pid": os.getpid(), "supervisor_started": self.started_at,
            "child_pid": self.child.pid if self.child is not None and self.child.poll() is None else None,
            "child_started": self.child_started_at, "ready": self.ready, "status": self.last_status,
            "restarts": len(self.restarts),
            "last_restarts": [r.__dict__ for r in self.restarts[-10:]],
        }

    def _write_state(self) -> None:
        folder = self.state_folder or state_dir()
        try:
            write_json(folder / f"{self.name}.supervise.json", self.state())
        except OSError as e:  # a full disk must not stop the supervising
            self._say(f"cannot write the state file: {e}")

    def _say(self, text: str) -> None:
        print(f"latentperform: supervise: {text}", file=sys.stderr, flush=True)


def parse_message(data: bytes) -> dict:
    fields = {}
    for line in data.decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep:
            fields[key.strip()] = value
    return fields
