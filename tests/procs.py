"""Helper processes the tests start (jackd, Xorg, sound players): stopping them cleanly."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid


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


def start_jackd(name: str, period: int = 256) -> subprocess.Popen:
    """A JACK dummy server called `name` at 48 kHz, `period` frames a cycle (no sound card, no
    realtime scheduling); returns once it answers, fails the test if it never does."""
    proc = subprocess.Popen(["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000",
                             "-p", str(period), "-C", "2", "-P", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    if subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True, env=env).returncode != 0:
        stop(proc)
        raise AssertionError(f"the JACK dummy server {name!r} did not start")
    return proc


@contextlib.contextmanager
def jackd_server(prefix: str, period: int = 256):
    """A JACK dummy server of its own under a fresh name (prefix + 8 hex digits), `period` frames
    a cycle; yields the name and stops the server cleanly afterwards."""
    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    proc = start_jackd(name, period)
    try:
        yield name
    finally:
        stop_jackd(proc, name)


def stop_jackd(proc: subprocess.Popen, name: str, kill: bool = False) -> None:
    """Stop a server started by `start_jackd`.  kill=True: SIGKILL, a sudden vanish (the caller
    restarts it under the same name).

    A jackd that dies without cleaning up keeps its slot in JACK's shared server registry (8
    slots for all servers on the machine) until a server of the same name starts again; so one
    that had to be killed is started and stopped cleanly once more under its name.
    """
    if kill:
        proc.kill()
        proc.wait(5)
        return
    proc.terminate()
    try:
        proc.wait(10)
        clean = proc.returncode != -9        # not already killed by a test that stopped halfway
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
        clean = False
    if not clean:
        again = start_jackd(name)
        again.terminate()
        again.wait(10)
    for f in os.listdir("/dev/shm"):
        if name in f:
            path = os.path.join("/dev/shm", f)
            shutil.rmtree(path, ignore_errors=True)
            if os.path.exists(path):
                os.remove(path)
