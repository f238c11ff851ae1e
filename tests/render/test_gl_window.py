"""A real glfw window on a private Xvfb server, in the same process as EGL offscreen contexts
(the window asks glfw for an EGL context: an EGL + GLX mix would kill the process)."""

from __future__ import annotations

import shutil
import subprocess

import numpy as np
import pytest
from render_helpers import params

from latentperform.config import UserError
from latentperform.render import FrameTexture, HeadlessSurface, ShaderChain, WindowSurface, list_monitors
from latentperform.render.surface import NO_DISPLAY


@pytest.fixture
def window(xvfb_display):
    offscreen = HeadlessSurface((8, 8))  # an EGL context already in the process, as in a real run
    w = WindowSurface((320, 240), title="latentperform test", vsync=False)
    yield w
    w.close()
    offscreen.close()


def _frame() -> np.ndarray:
    y, x = np.mgrid[0:128, 0:128]
    return np.stack([x * 2, y * 2, 255 - x * 2], axis=-1).astype(np.uint8)


def test_window_shows_the_picture_and_a_parameter_changes_it(window):
    assert window.context_api == "egl"
    assert window.size == (320, 240)
    chain = ShaderChain(window.ctx, ["grade"], size=window.size)
    tex = FrameTexture(window.ctx)
    tex.upload(_frame())

    def show(**values):
        chain.render(tex.texture, params(**values), 0.0, window.target, window.viewport())
        pixels = window.read_pixels()
        window.present()
        return pixels

    plain = show()
    assert plain.shape == (240, 320, 3)
    assert plain[:, 40:280].std() > 30  # a gradient, not a blank window
    assert plain[:, :30].max() == 0 and plain[:, -30:].max() == 0  # square picture, pillarboxed
    darker = show(shader__grade__exposure=-1)
    assert darker.mean() < plain.mean() * 0.6
    if shutil.which("import"):  # what the X server shows, not just the back buffer
        shot = subprocess.run(["import", "-window", "root", "-crop", "320x240+0+0", "rgb:-"],
                              capture_output=True, timeout=20).stdout
        screen = np.frombuffer(shot, np.uint8)[: 320 * 240 * 3].reshape(240, 320, 3)
        assert screen.std() > 10
    assert not window.should_close()


def test_keys_arrive_as_names_and_escape_can_close(window):
    import glfw

    window._on_key(window.window, glfw.KEY_F, 0, glfw.PRESS, 0)
    window._on_key(window.window, glfw.KEY_F, 0, glfw.RELEASE, 0)
    window._on_key(window.window, glfw.KEY_ESCAPE, 0, glfw.PRESS, 0)
    window._on_key(window.window, glfw.KEY_F11, 0, glfw.PRESS, 0)
    assert window.poll_keys() == ["f", "escape", "f11"]
    assert window.poll_keys() == []
    window.request_close()
    assert window.should_close()


def test_fullscreen_on_the_monitor_and_back(window):
    monitors = list_monitors()
    assert len(monitors) == 1 and "1280x720" in monitors[0]
    window.toggle_fullscreen()
    assert window.fullscreen and window.size == (1280, 720)
    assert window.viewport() == (0, 0, 1280, 720)
    window.toggle_fullscreen()
    assert not window.fullscreen and window.size == (320, 240)


def test_a_monitor_that_does_not_exist_is_a_user_error(xvfb_display):
    with pytest.raises(UserError, match="monitor 3 does not exist"):
        WindowSurface((64, 64), fullscreen=True, monitor=3)
    with pytest.raises(UserError, match="no monitor named"):
        WindowSurface((64, 64), fullscreen=True, monitor="projector")


def test_no_display_is_one_clear_user_error(monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    with pytest.raises(UserError) as err:
        WindowSurface((64, 64))
    assert str(err.value) == NO_DISPLAY
    assert str(err.value) == "no display found (DISPLAY is not set): use --headless to render offscreen"


def test_a_display_that_does_not_answer_is_one_clear_user_error(monkeypatch):
    monkeypatch.setenv("DISPLAY", ":9999")
    with pytest.raises(UserError, match=r"^cannot open the display ':9999'.*use --headless"):
        WindowSurface((64, 64))


def test_a_second_window_shares_the_first_ones_textures(window):
    """What the preview relies on: a texture made in one window's context drawn in another's."""
    red = np.zeros((4, 4, 3), np.uint8)
    red[..., 0] = 255
    tex = window.ctx.texture((4, 4), 3, red.tobytes())
    window.ctx.finish()
    second = WindowSurface((160, 120), title="second", vsync=False, share=window, position=(400, 300))
    try:
        assert second.context_api == window.context_api == "egl"
        assert second.position == (400, 300) and second.size == (160, 120)
        view = second.ctx.external_texture(tex.glo, tex.size, 3, 0, "f1")
        chain = ShaderChain(second.ctx, [], size=second.size)
        chain.render(view, params(), 0.0, second.target, second.viewport())
        shown = second.read_pixels()
        second.present()
        middle = shown[:, 20:140]  # the square picture, pillarboxed
        assert middle[..., 0].min() > 200 and middle[..., 1:].max() < 40
        with window.ctx:  # back to the first window: it still draws
            window.ctx.clear(0.0, 0.0, 1.0)
            assert window.read_pixels()[..., 2].min() == 255
    finally:
        second.close()
        window.make_current()
        tex.release()


def test_sharing_with_a_closed_window_is_refused(window):
    w2 = WindowSurface((64, 64), vsync=False)
    w2.close()
    with pytest.raises(ValueError, match="closed window"):
        WindowSurface((64, 64), share=w2)
