"""A long-running show's memory: its resident size, and freed memory given back to the system.

glibc's malloc keeps what a program frees in its arenas (one per thread that allocates: the
render loop, the inference worker, the input threads) and, once a large block has been freed,
raises the size from which it maps blocks on their own (up to 32 MiB on 64-bit), so the frames
and tensors a show allocates and frees every frame are served from arenas that fragment: the
resident size creeps up although nothing is kept (bench/soak.py measured +3.9 MiB an hour with
every Python object flat).  `malloc_trim(0)` returns the free pages of every arena, not only
the top of the main heap.  Elsewhere (musl, macOS) there is nothing to call and `trim` says so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time

_libc = None


def _malloc_trim():
    global _libc
    if _libc is None:
        try:
            lib = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
            fn = lib.malloc_trim
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
            _libc = fn
        except (OSError, AttributeError):
            _libc = False
    return _libc or None


def trim() -> float | None:
    """Give freed heap memory back to the system; the seconds it took, or None where the C
    library has no malloc_trim."""
    fn = _malloc_trim()
    if fn is None:
        return None
    t0 = time.perf_counter()
    fn(0)
    return time.perf_counter() - t0


def rss_bytes() -> int | None:
    """This process's resident set size in bytes (Linux /proc), or None."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None
