"""Paths, defaults and the one error type that is shown to a user as a single line."""

from __future__ import annotations

import os
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
