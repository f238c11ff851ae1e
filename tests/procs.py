"""Helper processes the tests start (jackd, Xorg, sound players): stopping them cleanly."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if it is still there after `timeout` seconds.  SIGTERM first matters:
    jackd gives its slot in the machine-wide JACK registry back only when it is terminated."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
