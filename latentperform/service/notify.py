"""The service manager's notify protocol, spoken directly (it is one datagram per message).

systemd (Type=notify, WatchdogSec=) and `run --supervise` both hand the show an AF_UNIX datagram
socket in $NOTIFY_SOCKET (a path, or "@name" for the abstract namespace) and the watchdog period
in $WATCHDOG_USEC.  The show sends newline-separated KEY=VALUE lines: READY=1 once frames are on
screen, WATCHDOG=1 at least once per period while they keep coming, STATUS=... for `status`,
STOPPING=1 on the way out.  Without $NOTIFY_SOCKET every call is a no-op.
"""

from __future__ import annotations

import os
import socket
import time

__all__ = ["Notifier", "watchdog_period"]


def watchdog_period(environ=None) -> float | None:
    """The watchdog period in seconds, or None when no watchdog is armed for this process.
    $WATCHDOG_PID, when set, must be ours (a child that inherited the variables is not watched)."""
    env = os.environ if environ is None else environ
    usec = env.get("WATCHDOG_USEC")
    if not usec:
        return None
    pid = env.get("WATCHDOG_PID")
    if pid and pid.strip() != str(os.getpid()):
        return None
    try:
        value = int(usec)
    except ValueError:
        return None
    return value / 1e6 if value > 0 else None


def _address(name: str) -> str | bytes:
    if name.startswith("@"):
        return b"\0" + name[1:].encode()  # abstract namespace
    return name


class Notifier:
    """Sends notify messages; never raises (a service manager that went away must not end the show).

    `watchdog()` pings at most twice per period (the manager wants one per period; twice leaves a
    margin for a slow frame), so calling it every frame is cheap."""

    def __init__(self, environ=None) -> None:
        env = os.environ if environ is None else environ
        self.socket_name = env.get("NOTIFY_SOCKET") or None
        self.period = watchdog_period(env)
        self.sent = 0
        self.failed = 0
        self._sock: socket.socket | None = None
        self._last_ping = -1e18
        self._ready = False
        if self.socket_name:
            try:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
                # a manager that does not read fills the socket's queue: a message is then
                # dropped (counted), never waited for, or the render loop would stall on it
                self._sock.setblocking(False)
            except OSError:
                self._sock = None

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields) -> bool:
        """One datagram of KEY=VALUE lines; False when it could not be sent."""
        if self._sock is None:
            return False
        text = "\n".join(f"{k}={v}" for k, v in fields.items())
        try:
            self._sock.sendto(text.encode("utf-8", "replace"), _address(self.socket_name))
        except OSError:
            self.failed += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str | None = None) -> bool:
        if self._ready:
            return True
        extra = {"STATUS": status} if status else {}
        self._ready = self.send(READY=1, MAINPID=os.getpid(), **extra)
        return self._ready

    def status(self, text: str) -> bool:
        return self.send(STATUS=text.replace("\n", " "))

    def watchdog(self, now: float | None = None) -> bool:
        """Ping, unless one was sent less than half a period ago.  True when a ping went out."""
        if self._sock is None or self.period is None:
            return False
        now = time.monotonic() if now is None else now
        if now - self._last_ping < self.period / 2:
            return False
        if self.send(WATCHDOG=1):
            self._last_ping = now
            return True
        return False

    def stopping(self) -> bool:
        return self.send(STOPPING=1)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
