"""Fixtures for real GL on a headless machine: EGL offscreen contexts (Mesa llvmpipe)."""

from __future__ import annotations

import pytest

from tests.procs import stop


@pytest.fixture(scope="module")
def gl():
    """One offscreen EGL context per test module (creating one takes ~50 ms)."""
    from latentperform.render import HeadlessSurface

    surface = HeadlessSurface((64, 64))
    yield surface.ctx
    surface.close()


# -- two monitors: Xorg with the dummy driver --------------------------------------------------------

XORG_CONF = """\
Section "Device"
    Identifier "dummy"
    Driver "dummy"
    VideoRam 256000
EndSection
Section "Monitor"
    Identifier "monitor"
    HorizSync 5.0-1000.0
    VertRefresh 5.0-200.0
    Modeline "1280x720_60" 74.25 1280 1390 1430 1650 720 725 730 750 +hsync +vsync
    Modeline "800x600_60" 40.00 800 840 968 1056 600 601 605 628 +hsync +vsync
EndSection
Section "Screen"
    Identifier "screen"
    Device "dummy"
    Monitor "monitor"
    DefaultDepth 24
    SubSection "Display"
        Depth 24
        Modes "1280x720_60"
        Virtual 2080 720
    EndSubSection
EndSection
Section "ServerFlags"
    Option "AutoAddDevices" "false"
    Option "AutoEnableDevices" "false"
    Option "DontVTSwitch" "true"
EndSection
"""


@pytest.fixture(scope="module")
def xorg_two_monitors(tmp_path_factory):
    """A private Xorg server (dummy driver) with two monitors side by side:
    DUMMY0 1280x720 at (0, 0) and DUMMY1 800x600 at (1280, 0).  Sets DISPLAY for the module
    (restored after) and yields it.  See shared/specs/test-environment.md."""
    import os
    import shutil
    import subprocess

    for tool, package in (("Xorg", "xserver-xorg-core xserver-xorg-video-dummy"), ("xrandr", "x11-xserver-utils")):
        if shutil.which(tool) is None:
            pytest.fail(f"{tool} is not installed (apt-get install {package}): scripts/install.sh --test installs it")
    tmp = tmp_path_factory.mktemp("xorg")
    conf = tmp / "xorg.conf"
    conf.write_text(XORG_CONF)
    r, w = os.pipe()
    # -displayfd: the server takes a free display number itself and writes it to the pipe
    proc = subprocess.Popen(["Xorg", "-noreset", "-nolisten", "tcp", "-config", str(conf),
                             "-logfile", str(tmp / "Xorg.log"), "-displayfd", str(w)],
                            pass_fds=(w,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(w)
    with os.fdopen(r) as f:
        number = f.readline().strip()
    if not number:
        proc.kill()
        proc.wait(5)
        log = (tmp / "Xorg.log").read_text(errors="replace")[-2000:] if (tmp / "Xorg.log").exists() else ""
        pytest.fail(f"Xorg with the dummy driver did not start:\n{log}")
    display = f":{number}"
    env = {**os.environ, "DISPLAY": display}
    try:
        for cmd in (["xrandr", "--addmode", "DUMMY1", "800x600_60"],
                    ["xrandr", "--output", "DUMMY1", "--mode", "800x600_60", "--right-of", "DUMMY0"]):
            done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=20)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(cmd)}: {done.stderr.strip()}")
        # A full query makes the server probe its outputs again; until then clients that read the
        # cached screen resources (glfw does) still see one monitor.
        query = subprocess.run(["xrandr", "--query"], env=env, capture_output=True, text=True, timeout=20)
        if "DUMMY1 connected 800x600+1280+0" not in query.stdout:
            pytest.fail(f"the second monitor is not there:\n{query.stdout}")
        old = os.environ.get("DISPLAY")
        os.environ["DISPLAY"] = display
        yield display
        if old is None:
            os.environ.pop("DISPLAY", None)
        else:
            os.environ["DISPLAY"] = old
    finally:
        stop(proc, timeout=10)
