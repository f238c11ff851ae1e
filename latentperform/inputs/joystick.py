"""Joysticks and gamepads through Linux's joystick interface (/dev/input/jsN).

Each event the kernel writes is 8 bytes (linux/joystick.h, struct js_event): u32 time in ms,
s16 value, u8 type (0x01 button, 0x02 axis, 0x80 set on the initial state sent at open), u8
number.  They become ControlEvents on the show's clock:

    joystick/axis/<n>     -1 .. 1 (centre 0): map with `input = [-1, 1]`
    joystick/button/<n>   1 pressed, 0 released

    [inputs.joystick]
    device = "/dev/input/js0"     # or "auto": the first /dev/input/js* there is

A device that is not there, or is unplugged while the show plays, is said once and looked for
again every `poll` seconds; the show goes on.  No library is needed: the kernel interface is a
file of fixed-size records, read here on a thread of its own.
"""

from __future__ import annotations

import errno
import glob
import logging
import os
import select
import struct
import threading

from ..events import ControlEvent, EventQueue

log = logging.getLogger("latentperform.inputs")

LABEL = "joysticks (/dev/input/js*)"
RECORD = struct.Struct("<IhBB")   # time (ms), value, type, number
JS_BUTTON, JS_AXIS, JS_INIT = 0x01, 0x02, 0x80
AXIS_MAX = 32767.0


def find_devices() -> list[str]:
    return sorted(glob.glob("/dev/input/js*"))


def list_devices() -> list[str]:
    return find_devices()


def decode(data: bytes) -> tuple[list[tuple[str, float]], bytes]:
    """(address, value) pairs from whole records, and the bytes of a record not yet complete.
    Records of an unknown type are skipped."""
    out = []
    whole = len(data) - len(data) % RECORD.size
    for _, value, kind, number in RECORD.iter_unpack(data[:whole]):
        kind &= ~JS_INIT
        if kind == JS_AXIS:
            out.append((f"joystick/axis/{number}", max(-1.0, min(1.0, value / AXIS_MAX))))
        elif kind == JS_BUTTON:
            out.append((f"joystick/button/{number}", 1.0 if value else 0.0))
    return out, data[whole:]


class JoystickInput:
    """Reads one device on a thread; events go to `queue` stamped with `clock.now()`."""

    def __init__(self, queue: EventQueue, clock, device: str = "auto", *, poll: float = 1.0,
                 report=log.warning) -> None:
        self.queue, self.clock, self.device = queue, clock, str(device)
        self.poll, self.report = float(poll), report
        self.path: str | None = None
        self.connected = False
        self.stats = {"events": 0, "opened": 0, "lost": 0}
        self._stop = threading.Event()
        self._said_missing = False
        self._thread = threading.Thread(target=self._run, name="lp-joystick", daemon=True)
        self._thread.start()

    def _target(self) -> str | None:
        if self.device != "auto":
            return self.device
        found = find_devices()
        return found[0] if found else None

    def _open(self) -> int | None:
        path = self._target()
        if path is None or not os.path.exists(path):
            if not self._said_missing:
                self.report(f"joystick: {path or 'no /dev/input/js* device'} not found; "
                            f"looking for it every {self.poll:g} s")
                self._said_missing = True
            return None
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
        except OSError as e:
            if not self._said_missing:
                self.report(f"joystick: cannot open {path}: {e.strerror or e}; trying again every {self.poll:g} s")
                self._said_missing = True
            return None
        self.path = path
        return fd

    def _run(self) -> None:
        while not self._stop.is_set():
            fd = self._open()
            if fd is None:
                self._stop.wait(self.poll)
                continue
            why = self._read(fd)
            os.close(fd)
            if self.connected:
                self.connected = False
                self.stats["lost"] += 1
                self.report(f"joystick: {self.path} {why}; waiting for it to come back")
                self._said_missing = True
            self._stop.wait(self.poll)

    def _read(self, fd: int) -> str:
        """Read records until the device goes away (or close); returns what happened."""
        rest = b""
        while not self._stop.is_set():
            ready, _, _ = select.select([fd], [], [], 0.2)
            if not ready:
                continue
            try:
                data = os.read(fd, RECORD.size * 64)
            except BlockingIOError:
                continue
            except OSError as e:  # ENODEV: unplugged
                return "was unplugged" if e.errno == errno.ENODEV else f"failed: {e.strerror or e}"
            if not data:
                return "was closed"   # end of file: the device (or the pipe feeding it) went away
            if not self.connected:
                self.connected, self._said_missing = True, False
                self.stats["opened"] += 1
                log.info("joystick: reading %s", self.path)
            events, rest = decode(rest + data)
            now = self.clock.now()
            for address, value in events:
                self.queue.put(ControlEvent("joystick", address, value, now))
            self.stats["events"] += len(events)
        return "was closed"

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2.0)


def open_inputs(section, queue: EventQueue, clock, *, report=log.warning, poll: float = 1.0) -> list:
    """The joystick the patch's [inputs.joystick] names (a missing one is waited for)."""
    return [JoystickInput(queue, clock, section.device, poll=poll, report=report)]
