"""Two monitors on a real X server (Xorg, dummy driver): fullscreen lands on the chosen monitor,
and the preview window and the fullscreen output show the picture at the same time."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest

from latentperform.clock import FixedStepClock
from latentperform.config import DEFAULT_PATCH, UserError
from latentperform.engine import Engine, EnginePart, open_show
from latentperform.engine.outputs import PreviewPart, attach_outputs
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface, WindowSurface, list_monitors
from latentperform.render.surface import monitors


@pytest.fixture
def egl_first():
    """An EGL offscreen context already in the process, as in a real run."""
    s = HeadlessSurface((8, 8))
    yield s
    s.close()


def _screen(region: tuple[int, int, int, int]) -> np.ndarray:
    """What the X server shows in (x, y, w, h) of the root window (ImageMagick `import`)."""
    x, y, w, h = region
    shot = subprocess.run(["import", "-window", "root", "-crop", f"{w}x{h}+{x}+{y}", "rgb:-"],
                          capture_output=True, timeout=30)
    assert shot.returncode == 0, shot.stderr.decode(errors="replace")
    return np.frombuffer(shot.stdout, np.uint8)[: w * h * 3].reshape(h, w, 3)


def test_both_monitors_are_seen(xorg_two_monitors):
    ms = monitors()
    assert [(m.name, m.x, m.y, m.width, m.height) for m in ms] == [
        ("DUMMY0", 0, 0, 1280, 720), ("DUMMY1", 1280, 0, 800, 600)]
    assert list_monitors() == ["DUMMY0 1280x720@60Hz at (0, 0)", "DUMMY1 800x600@60Hz at (1280, 0)"]


@pytest.mark.parametrize("choice", [1, "1", "DUMMY1", "dummy1"])
def test_fullscreen_lands_on_the_chosen_monitor(xorg_two_monitors, egl_first, choice):
    w = WindowSurface((320, 240), fullscreen=True, monitor=choice, vsync=False)
    try:
        assert w.fullscreen and w.context_api == "egl"
        assert w.position == (1280, 0)
        assert w.size == (800, 600)
        assert w.monitor().name == "DUMMY1"
        assert monitors()[1].refresh_rate == 60  # the monitor keeps its mode
        w.toggle_fullscreen()  # back to a window: the size it was asked for
        assert not w.fullscreen and w.size == (320, 240)
        w.toggle_fullscreen()  # and fullscreen again on the same monitor
        assert w.position == (1280, 0) and w.size == (800, 600)
    finally:
        w.close()


def test_a_window_opens_on_the_chosen_monitor(xorg_two_monitors, egl_first):
    w = WindowSurface((400, 300), monitor="DUMMY1", vsync=False)
    try:
        assert not w.fullscreen
        assert w.position == (1280 + 200, 150)  # the middle of DUMMY1
        assert w.monitor().name == "DUMMY1"
    finally:
        w.close()


def test_a_monitor_that_is_not_there(xorg_two_monitors):
    with pytest.raises(UserError, match=r"monitor 2 does not exist; there are: \[0\] DUMMY0, \[1\] DUMMY1"):
        WindowSurface((64, 64), fullscreen=True, monitor=2)


def _engine(surface) -> Engine:
    patch = load_patch(DEFAULT_PATCH)
    return open_show(patch, surface=surface, clock=FixedStepClock(10), fps=10, offline=True,
                  generator=BuiltinGenerator(resolution=48))


@pytest.mark.skipif(shutil.which("import") is None, reason="needs ImageMagick's import for screenshots")
def test_fullscreen_output_and_preview_at_once(xorg_two_monitors, egl_first):
    """The output fullscreen on the projector (DUMMY1), the preview windowed on the laptop screen
    (DUMMY0, chosen automatically as the monitor the output does not cover): both show the picture."""
    surface = WindowSurface((320, 240), fullscreen=True, monitor=1, vsync=False)
    engine = _engine(surface)
    try:
        parts = attach_outputs(engine, preview=True)
        assert len(parts) == 1 and isinstance(parts[0], PreviewPart)
        preview = parts[0]
        preview.keep_pixels = True
        assert preview.shared and preview.window.context_api == "egl"
        assert preview.window.monitor().name == "DUMMY0"
        assert not preview.window.fullscreen
        for _ in range(4):
            engine.step()
        # the preview drew the final picture from the output's context, without a copy
        assert preview.source == "output" and engine.output_texture is not None
        shown = preview.last_pixels
        assert shown.shape == (480, 640, 3)  # 640 wide, the output's 4:3 aspect
        assert shown.std() > 10, "the preview is blank"
        assert shown[:, 80:560].std() > 10  # the square picture, pillarboxed
        # what the X server shows: the output on DUMMY1, the preview on DUMMY0
        output = _screen((1280, 0, 800, 600))
        assert output.std() > 10, "the fullscreen output is blank on screen"
        px, py = preview.window.position
        on_screen = _screen((px, py, 640, 480))
        assert on_screen.std() > 10, "the preview is blank on screen"
        # the overlay: white text on a dark box in the preview's top-left corner
        corner = on_screen[:120, :330].astype(int)
        assert (corner.min(axis=2) > 200).sum() > 200, "no overlay text on the preview"
        # the output keeps drawing after the preview took the context for a while
        engine.step()
        assert _screen((1280, 0, 800, 600)).std() > 10
    finally:
        engine.close()
        surface.close()
    assert preview.window.window is None


def test_preview_of_a_headless_show_is_fed_pixels(xorg_two_monitors):
    """No window to share with: the preview uploads the picture read back from the offscreen output."""
    surface = HeadlessSurface((160, 120))
    engine = _engine(surface)
    try:
        preview = engine.add_part(PreviewPart(engine, monitor="DUMMY1", size=(320, 240), overlay=False,
                                              keep_pixels=True))
        assert not preview.shared and preview.wants_pixels
        assert preview.window.monitor().name == "DUMMY1"
        for _ in range(3):
            out = engine.step()
        assert preview.source == "pixels"
        shown = preview.last_pixels
        # the same picture, scaled 2x (linear filtering): compare block means
        small = shown.reshape(120, 2, 160, 2, 3).mean(axis=(1, 3))
        assert np.abs(small - out.astype(float)).mean() < 6
        assert shown.std() > 10
    finally:
        engine.close()
        surface.close()


class KeyLog(EnginePart):
    def __init__(self):
        self.keys = []

    def on_key(self, engine, key):
        self.keys.append(key)
        return True


def test_keys_in_the_preview_reach_the_show(xorg_two_monitors, egl_first):
    import glfw

    surface = WindowSurface((320, 240), fullscreen=True, monitor=1, vsync=False)
    engine = _engine(surface)
    try:
        keys = KeyLog()
        engine.parts.insert(0, keys)
        preview = engine.add_part(PreviewPart(engine, monitor=0))
        engine.step()
        preview.window._on_key(preview.window.window, glfw.KEY_B, 0, glfw.PRESS, 0)
        preview.window._on_key(preview.window.window, glfw.KEY_SPACE, 0, glfw.PRESS, 0)
        engine.step()
        assert keys.keys == ["b", "space"]
        preview.window.request_close()  # closing the preview leaves the show running
        engine.step()
        assert preview.window.window is None and not surface.should_close()
        engine.step()
    finally:
        engine.close()
        surface.close()


def test_beside_a_windowed_output_the_preview_does_not_cover_it(xorg_two_monitors, egl_first):
    """One screen, the output in a window: the preview opens next to it, not on top of it."""
    surface = WindowSurface((400, 300), monitor=0, vsync=False)  # the middle of DUMMY0: (440, 210)
    engine = _engine(surface)
    try:
        (preview,) = attach_outputs(engine, preview=True)
        assert surface.position == (440, 210)
        assert preview.window.position == (440 + 400 + 16, 210)  # right of the output
        assert preview.window.size == (640, 480)
        engine.step()
    finally:
        engine.close()
        surface.close()
