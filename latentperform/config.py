"""Paths, defaults and the one error type that is shown to a user as a single line."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
# patches/ and shaders/ sit beside the package in a checkout and are installed inside it as data.
_ROOT = PACKAGE_DIR.parent


def _data_dir(name: str) -> Path:
    env = os.environ.get(f"LATENTPERFORM_{name.upper()}_DIR")
    if env:
        return Path(env)
    for candidate in (_ROOT / name, PACKAGE_DIR / "_data" / name):
        if candidate.is_dir():
            return candidate
    return _ROOT / name


SHADER_DIR = _data_dir("shaders")
PATCH_DIR = _data_dir("patches")
DEFAULT_PATCH = PATCH_DIR / "default.toml"

OSC_HOST = "127.0.0.1"
OSC_PORT = 9000
DEFAULT_SIZE = (1280, 720)
DEFAULT_FPS = 30.0


class UserError(Exception):
    """An error caused by input (a file, an argument, a device): the CLI prints str(e) on one
    line, with no traceback, and exits non-zero.  Live, the engine shows it and carries on."""


def parse_size(text: str) -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080)."""
    try:
        w, h = text.lower().split("x")
        size = int(w), int(h)
    except ValueError:
        raise UserError(f"size must look like WIDTHxHEIGHT (e.g. 1280x720), got {text!r}") from None
    if not (16 <= size[0] <= 16384 and 16 <= size[1] <= 16384):
        raise UserError(f"size {text!r} is out of range (16..16384 per side)")
    return size


def write_atomic(path: str | os.PathLike, data: str | bytes, mode: int | None = None,
                 parents: bool = False) -> Path:
    """Replace `path` by `data` in one step: a temporary file beside it, flushed to disk, then
    renamed over it (atomic on POSIX), so a crash or a full disk leaves the old file or the new
    one, never half of one.  parents: make a missing folder; mode None keeps an existing file's
    mode (0o644 for a new one).  Raises OSError (the old file is then untouched, and no
    temporary file is left behind).  The one writer of user files (patches, scenes, service
    state), so every one of them is written the same safe way."""
    path = Path(path)
    if mode is None:
        try:
            mode = path.stat().st_mode & 0o7777
        except OSError:
            mode = 0o644
    if parents:
        path.parent.mkdir(parents=True, exist_ok=True)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(raw)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:  # the rename itself reaches the disk with the folder's entry
        dfd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)
    except OSError:
        pass
    return path
