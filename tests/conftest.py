"""Shared fixtures for real parts on a headless machine: an X server (Xvfb) and a JACK dummy
server (MIDI ports and audio capture).  See ../shared/specs/test-environment.md."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest

from tests.procs import start_jackd, stop_jackd


def pytest_collection_modifyitems(config, items):
    cuda = [item for item in items if item.get_closest_marker("cuda") is not None]
    if cuda and not _cuda_available():
        skip_cuda = pytest.mark.skip(reason="needs an NVIDIA GPU with CUDA (none here); bench/gpu.sh runs these")
        for item in cuda:
            item.add_marker(skip_cuda)
    if os.environ.get("LP_SLOW") == "1":
        return
    skip = pytest.mark.skip(reason="long run: set LP_SLOW=1 (or run bench/) for the full version")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


def _cuda_available() -> bool:
    try:
        import torch
    except ImportError:
        return False
    return bool(torch.cuda.is_available())


@pytest.fixture(scope="session")
def xvfb_display():
    """A private Xvfb server; yields its DISPLAY string (':N') and sets it in os.environ."""
    if shutil.which("Xvfb") is None:
        pytest.fail("Xvfb is not installed (apt-get install xvfb): .ci/run installs it")
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x720x24", "-nolisten", "tcp"],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    display = f":{number}"
    old = os.environ.get("DISPLAY")
    os.environ["DISPLAY"] = display
    yield display
    proc.terminate()
    proc.wait(5)
    if old is None:
        os.environ.pop("DISPLAY", None)
    else:
        os.environ["DISPLAY"] = old


def _jackd_running() -> bool:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as f:
                    if f.read().strip() == "jackd":
                        return True
            except OSError:
                pass
    return False


def _reset_jack_registry_if_idle() -> None:
    """JACK keeps a machine-wide registry of 8 server slots in /dev/shm; a jackd that was killed
    (not terminated) never gives its slot back, and after eight of those no server starts
    ("Too many servers already active").  With no jackd alive, nothing in it is in use."""
    if _jackd_running():
        return
    for f in os.listdir("/dev/shm"):
        if f == "jack-shm-registry" or f.startswith(("jack-", "jack_db-", "jack_sem.")):
            path = os.path.join("/dev/shm", f)
            shutil.rmtree(path, ignore_errors=True)
            try:
                os.remove(path)
            except OSError:
                pass


@pytest.fixture(scope="session")
def jack_server():
    """A JACK dummy server (no sound card needed): real MIDI ports and real audio I/O.

    Sets JACK_DEFAULT_SERVER, JACK_NO_START_SERVER and MIDO_BACKEND for this process and its
    children; yields the server name.
    """
    if shutil.which("jackd") is None:
        pytest.fail("jackd is not installed (apt-get install jackd2): .ci/run installs it")
    _reset_jack_registry_if_idle()
    name = f"lp{uuid.uuid4().hex[:8]}"
    proc = start_jackd(name)
    env = {"JACK_DEFAULT_SERVER": name, "JACK_NO_START_SERVER": "1",
           "MIDO_BACKEND": "mido.backends.rtmidi/UNIX_JACK"}
    old = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield name
    try:  # PortAudio must let go of JACK before the server stops, or the interpreter aborts at exit
        import sys
        if "sounddevice" in sys.modules:
            sys.modules["sounddevice"]._terminate()
    except Exception:
        pass
    stop_jackd(proc, name)
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v
