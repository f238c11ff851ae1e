"""Files the service writes, written safely: to a temporary file beside the target, flushed to
disk, then renamed over it (a rename is atomic on POSIX), so a crash or a full disk leaves the
old file or the new one, never half of one.

The show's state file (`<state dir>/<name>.json`) carries what `latentperform status` prints:
pid, started, updated, frames, fps, errors (count and the last few), restarts (filled by the
supervisor)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..config import write_atomic

__all__ = ["write_atomic", "write_json", "read_json", "state_dir", "state_path"]


def write_json(path: str | os.PathLike, obj) -> Path:
    return write_atomic(path, json.dumps(obj, indent=1, sort_keys=True) + "\n", parents=True)


def read_json(path: str | os.PathLike) -> dict | None:
    """The file's object, or None when it is missing or unreadable (never raises)."""
    try:
        obj = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return obj if isinstance(obj, dict) else None


def state_dir(environ=None) -> Path:
    """$LP_STATE_DIR, else $XDG_STATE_HOME/latentperform, else ~/.local/state/latentperform
    (a system service's HOME is its user's, so the same rule holds)."""
    env = os.environ if environ is None else environ
    if env.get("LP_STATE_DIR"):
        return Path(env["LP_STATE_DIR"])
    base = env.get("XDG_STATE_HOME") or str(Path(env.get("HOME") or Path.home()) / ".local" / "state")
    return Path(base) / "latentperform"


def state_path(name: str, environ=None) -> Path:
    return state_dir(environ) / f"{name}.json"


class StateWriter:
    """Writes a state file from its own thread, latest wins: the render loop hands over a dict
    and goes on (an fsync can take long on a busy or full disk).  A failed write is counted and
    kept in `error`, never raised."""

    def __init__(self, path: str | os.PathLike) -> None:
        import threading
        self.path = Path(path)
        self.written = 0
        self.error: str | None = None
        self._pending = None
        self._cv = threading.Condition()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lp-state", daemon=True)
        self._thread.start()

    def put(self, obj: dict) -> None:
        with self._cv:
            self._pending = obj
            self._cv.notify()

    def _loop(self) -> None:
        while True:
            with self._cv:
                while self._pending is None and not self._closed:
                    self._cv.wait()
                obj, self._pending = self._pending, None
                closed = self._closed
            if obj is not None:
                try:
                    write_json(self.path, obj)
                    self.written += 1
                    self.error = None
                except OSError as e:
                    self.error = f"cannot write {self.path}: {e.strerror or e}"
            if closed:
                return

    def close(self, timeout: float = 2.0) -> None:
        with self._cv:
            self._closed = True
            self._cv.notify()
        self._thread.join(timeout)
