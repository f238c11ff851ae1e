"""If the GL context is lost, recreate it (issue 17): a live show whose context goes away (here:
released under it, as a driver dropping it would leave it) makes a new one, puts the picture up
again and goes on; a window is opened anew in the same place, a preview sharing its context is
made again too.  Real EGL contexts and real glfw windows under Xvfb."""

from __future__ import annotations

import time

import moderngl
import numpy as np
import pytest

from latentperform.clock import FixedStepClock
from latentperform.config import UserError
from latentperform.engine import EnginePart, open_show
from latentperform.events import ControlEvent
from latentperform.engine import glcontext
from latentperform.engine.outputs import PreviewPart
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface, WindowSurface
from latentperform.render import surface as surface_mod

PATCH = """
[model]
kind = "builtin"
[output]
shaders = ["grade"]
interpolation = "hold"
[[mapping]]
source = "osc/freeze"
target = "engine/freeze"
"""


class Witness(EnginePart):
    """Reads every frame back and counts the renewals it is told of."""

    wants_pixels = True

    def __init__(self) -> None:
        self.renewed = 0

    def context_renewed(self, engine) -> None:
        self.renewed += 1


def _show(tmp_path, surface):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    engine = open_show(load_patch(path), surface=surface, clock=FixedStepClock(30), fps=30, offline=False,
                       generator=BuiltinGenerator(resolution=48))
    witness = engine.add_part(Witness())
    return engine, witness


def _settle(engine, timeout=60.0):
    """Frames until a generator picture is up (the worker is asynchronous in a live show)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pixels = engine.step()
        if engine.stats.gen_frames >= 2 and pixels is not None:
            return pixels
        time.sleep(0.01)
    raise AssertionError("the generator gave no picture")


def _freeze(engine):
    engine.add_queue("test").put(ControlEvent("osc", "osc/freeze", 1.0, engine.clock.now()))


def test_a_lost_offscreen_context_is_made_anew_and_the_picture_comes_back(tmp_path):
    engine, witness = _show(tmp_path, HeadlessSurface((96, 64)))
    try:
        _settle(engine)
        frames = engine.stats.frames
        before = engine.step()
        assert before is not None and before.std() > 5
        old = engine.surface.ctx
        old.release()  # the context is gone under the show
        results = [engine.step() for _ in range(5)]
        assert results[0] is None, "the frame drawn in the lost context cannot be shown"
        assert engine.gl.renewals == 1 and not engine.gl.lost
        assert engine.surface.ctx is not old and witness.renewed == 1
        assert engine.stats.frames >= frames + 1 + 4, "the show stopped presenting frames"
        after = results[-1]
        assert after is not None
        # the same generator picture (the worker's newest frame went up again), the same chain
        assert np.abs(after.astype(float) - before).mean() < 12, "the picture did not come back"
        assert after.std() > 5
        said = " ".join(engine.stats.errors)
        assert "GL context is lost" in said, said
        assert any("GL context made anew" in n for n in engine.notices())
    finally:
        engine.close()
        engine.surface.close()


def test_a_frozen_show_keeps_its_picture_across_a_new_context(tmp_path):
    """No new generator frame arrives under freeze: the last one goes up in the new context."""
    engine, _ = _show(tmp_path, HeadlessSurface((96, 64)))
    try:
        _settle(engine)
        frozen_at = engine.step()
        _freeze(engine)
        engine.step()
        assert engine.params.get("engine/freeze") == 1.0
        engine.surface.ctx.release()
        out = [engine.step() for _ in range(4)]
        assert engine.gl.renewals == 1
        assert out[-1] is not None and out[-1].std() > 5
        assert np.abs(out[-1].astype(float) - frozen_at).mean() < 12
    finally:
        engine.close()
        engine.surface.close()


def test_failures_that_do_not_say_lost_renew_after_three_in_a_row(tmp_path, monkeypatch):
    engine, witness = _show(tmp_path, HeadlessSurface((96, 64)))
    try:
        _settle(engine)
        real_present = engine.surface.present
        fail = {"left": 2}

        def present():
            if fail["left"] > 0:
                fail["left"] -= 1
                raise moderngl.Error("glFinish: GL_OUT_OF_MEMORY")
            real_present()

        monkeypatch.setattr(engine.surface, "present", present)
        assert [engine.step() is None for _ in range(3)] == [True, True, False]
        assert engine.gl.renewals == 0, "two failures then a good frame: the context was fine"
        fail["left"] = 3
        [engine.step() for _ in range(4)]
        assert engine.gl.renewals == 1 and witness.renewed == 1
        assert engine.step() is not None
        assert sum("drawing failed" in e for e in engine.stats.errors) >= 1
        # a context that fails again at once is not rebuilt every frame: the back-off holds
        fail["left"] = 10 ** 6
        for _ in range(30):
            engine.step()
        assert engine.gl.renewals <= 2, engine.gl.renewals
        fail["left"] = 0
    finally:
        engine.close()
        engine.surface.close()


def test_a_bug_in_the_drawing_code_is_not_taken_for_a_lost_context(tmp_path, monkeypatch):
    """Only GL errors renew the context; a Python error in the render path ends the show as it
    did before (with its traceback), instead of rebuilding the window for ever."""
    engine, _ = _show(tmp_path, HeadlessSurface((96, 64)))
    try:
        _settle(engine)

        def broken(*a, **k):
            raise TypeError("a bug in a pass")

        monkeypatch.setattr(engine.chain, "render", broken)
        with pytest.raises(TypeError, match="a bug in a pass"):
            engine.step()
        assert engine.gl.renewals == 0 and not engine.gl.lost
    finally:
        engine.close()
        engine.surface.close()


def test_a_renewal_that_fails_is_tried_again_while_the_show_goes_on(tmp_path, monkeypatch):
    monkeypatch.setattr(glcontext, "RETRY_FIRST_S", 0.05)
    engine, _ = _show(tmp_path, HeadlessSurface((96, 64)))
    try:
        _settle(engine)
        real = surface_mod.create_egl_context
        refused = []

        def no_context():
            refused.append(1)
            raise UserError("cannot create an offscreen OpenGL context through EGL (test)")

        monkeypatch.setattr(surface_mod, "create_egl_context", no_context)
        engine.surface.ctx.release()
        ticks = engine.frame_index
        for _ in range(6):
            assert engine.step() is None
        assert engine.frame_index == ticks + 6, "the show's clock stopped with the context"
        assert engine.gl.lost and engine.gl.renewals == 0 and len(refused) >= 1
        assert any("cannot make a new GL context yet" in e for e in engine.stats.errors)
        monkeypatch.setattr(surface_mod, "create_egl_context", real)
        time.sleep(0.3)  # past the back-off
        out = [engine.step() for _ in range(3)]
        assert engine.gl.renewals == 1 and not engine.gl.lost
        assert out[-1] is not None and out[-1].std() > 5
    finally:
        engine.close()
        engine.surface.close()


def test_offline_a_drawing_failure_fails_the_render_rather_than_skip_a_frame(tmp_path):
    path = tmp_path / "show.toml"
    path.write_text(PATCH)
    surface = HeadlessSurface((96, 64))
    engine = open_show(load_patch(path), surface=surface, clock=FixedStepClock(10), fps=10, offline=True,
                       generator=BuiltinGenerator(resolution=48))
    try:
        engine.step()
        surface.ctx.release()
        with pytest.raises(Exception, match="released|InvalidObject"):
            engine.step()
    finally:
        engine.close()


def test_a_lost_window_context_opens_the_window_again_with_its_preview(tmp_path, xvfb_display):
    surface = WindowSurface((200, 150), title="lost-context test", vsync=False)
    engine, witness = _show(tmp_path, surface)
    try:
        preview = engine.add_part(PreviewPart(engine, size=(100, 75), overlay=False, keep_pixels=True))
        assert preview.shared
        _settle(engine)
        engine.step()
        before = engine.last_pixels.copy()
        old_window, old_preview = surface.window, preview.window.window
        surface.ctx.release()
        for _ in range(6):
            engine.step()
        assert engine.gl.renewals == 1
        assert surface.window is not None and surface.window != old_window, "no new window"
        assert surface.size == (200, 150) and not surface.should_close()
        assert preview.window.window is not None and preview.window.window != old_preview
        assert preview.window.shares_with is surface
        after = engine.last_pixels
        assert np.abs(after.astype(float) - before).mean() < 12 and after.std() > 5
        # the preview draws the output's texture from the new shared context
        assert preview.source == "output"
        shown = preview.last_pixels.astype(float)
        small = after.reshape(75, 2, 100, 2, 3).mean(axis=(1, 3))
        assert np.abs(shown - small).mean() < 12 and shown.std() > 5
    finally:
        engine.close()
        surface.close()


def test_no_watchdog_ping_while_no_context_can_be_made(tmp_path, monkeypatch):
    """The service manager restarts a show that cannot get a context back: its watchdog is fed
    only by presented frames."""
    import socket

    from latentperform.engine.installation import ServicePart
    from latentperform.service.notify import Notifier
    from latentperform.service.supervise import parse_message

    monkeypatch.setattr(glcontext, "RETRY_FIRST_S", 0.05)
    engine, _ = _show(tmp_path, HeadlessSurface((96, 64)))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(0.05)

    def pings():
        n = 0
        while True:
            try:
                n += parse_message(sock.recv(4096)).get("WATCHDOG") == "1"
            except socket.timeout:
                return n

    try:
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "100000"}
        engine.add_part(ServicePart("t", notifier=Notifier(env), state_file=tmp_path / "t.json"))
        _settle(engine)
        time.sleep(0.06)
        engine.step()
        assert pings() >= 1
        monkeypatch.setattr(surface_mod, "create_egl_context",
                            lambda: (_ for _ in ()).throw(UserError("no EGL (test)")))
        engine.surface.ctx.release()
        for _ in range(10):
            engine.step()
            time.sleep(0.06)
        assert pings() == 0, "the watchdog was fed while no frame reached the screen"
        monkeypatch.undo()  # a context can be made again: at the next retry (back-off < 1 s here)
        deadline = time.monotonic() + 15
        while engine.gl.renewals == 0 and time.monotonic() < deadline:
            engine.step()
            time.sleep(0.06)
        time.sleep(0.06)
        engine.step()
        assert engine.gl.renewals == 1 and pings() >= 1
    finally:
        sock.close()
        engine.close()
        engine.surface.close()


class SilentlyLost:
    """A context lost without the robustness extension: every call still 'works' (here: on the
    real context underneath), and only glGetError says GL_CONTEXT_LOST."""

    error = "GL_CONTEXT_LOST"

    def __init__(self, real) -> None:
        self._real = real

    def __getattr__(self, name):
        return getattr(self._real, name)


def test_a_silent_loss_is_found_by_asking_gl_and_renewed(tmp_path, monkeypatch):
    monkeypatch.setattr(glcontext, "CHECK_EVERY_S", 0.0)
    engine, witness = _show(tmp_path, HeadlessSurface((96, 64)))
    try:
        _settle(engine)
        assert engine.gl.renewals == 0, "a healthy context was taken for lost"
        engine.surface.ctx = SilentlyLost(engine.surface.ctx)
        out = [engine.step() for _ in range(4)]
        assert engine.gl.renewals == 1 and witness.renewed == 1
        assert not isinstance(engine.surface.ctx, SilentlyLost)
        assert out[-1] is not None and out[-1].std() > 5
        assert any("GL_CONTEXT_LOST" in e for e in engine.stats.errors)
    finally:
        engine.close()
        engine.surface.close()


def test_a_silent_loss_that_cannot_be_renewed_presents_nothing(tmp_path, monkeypatch):
    """Frames drawn into a context known to be gone are not shown: no part runs after them, so
    installation mode's watchdog is not fed and the service manager restarts the show."""
    monkeypatch.setattr(glcontext, "CHECK_EVERY_S", 0.0)
    monkeypatch.setattr(glcontext, "RETRY_FIRST_S", 0.05)
    engine, witness = _show(tmp_path, HeadlessSurface((96, 64)))
    try:
        _settle(engine)
        frames = engine.stats.frames
        monkeypatch.setattr(surface_mod, "create_egl_context",
                            lambda: (_ for _ in ()).throw(UserError("no EGL (test)")))
        engine.surface.ctx = SilentlyLost(engine.surface.ctx)
        for _ in range(8):
            assert engine.step() is None
            time.sleep(0.02)
        assert engine.gl.lost and engine.gl.renewals == 0
        assert engine.stats.frames == frames, "frames counted as shown on a lost context"
    finally:
        engine.close()
        if isinstance(engine.surface.ctx, SilentlyLost):
            engine.surface.ctx = engine.surface.ctx._real
        engine.surface.close()


def test_a_preview_that_cannot_open_again_is_closed_and_the_output_goes_on(tmp_path, xvfb_display, monkeypatch):
    surface = WindowSurface((200, 150), title="lost-context test", vsync=False)
    engine, _ = _show(tmp_path, surface)
    try:
        preview = engine.add_part(PreviewPart(engine, size=(100, 75), overlay=False, keep_pixels=True))
        _settle(engine)

        def refuse(share=None):
            raise UserError("cannot open a window (test)")

        monkeypatch.setattr(preview.window, "renew", refuse)
        surface.ctx.release()
        for _ in range(4):
            engine.step()
        assert engine.gl.renewals == 1 and preview.window.window is None
        assert any("preview could not be opened again" in e for e in engine.stats.errors)
        assert engine.step() is not None and engine.last_pixels.std() > 5
    finally:
        engine.close()
        surface.close()
