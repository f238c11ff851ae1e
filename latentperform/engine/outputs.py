"""Video out to other programs (NDI, a virtual camera, Spout/Syphon) and the preview window, as
parts of a show.  `attach_outputs` is what `latentperform run` calls.

Both read the finished picture after it is presented:
- video outputs take `engine.last_pixels` ((H, W, 3) uint8, filled every frame because the part
  sets `wants_pixels = True`) and send it on their own thread; a headless engine feeds them too.
- the preview is a second, windowed glfw window whose GL context shares objects with the output
  window's: it draws `engine.output_texture` (the final picture; the part sets `wants_texture`)
  with no copy, plus the status overlay.  When the output is headless (no window to share
  with) it uploads `engine.last_pixels` instead.
"""

from __future__ import annotations

import logging

import numpy as np

from .part import EnginePart

log = logging.getLogger("latentperform.engine")


class VideoOutputPart(EnginePart):
    """One video output (NDI, virtual camera...): frames go to a FrameSender, never blocking the tick."""

    wants_pixels = True

    def __init__(self, sender) -> None:
        self.sender = sender
        self._reported = False

    @property
    def label(self) -> str:
        return self.sender.sink.label

    def after_frame(self, engine, params, t: float) -> None:
        if not self.sender.alive:
            if self.sender.error and not self._reported:
                self._reported = True
                engine.report(f"video output stopped: {self.sender.error}")
            return
        if engine.last_pixels is not None:  # read back for this frame (wants_pixels)
            self.sender.push(engine.last_pixels)

    def status_lines(self, engine) -> list[str]:
        return [self.sender.status()]

    def close(self) -> None:
        self.sender.close()


# -- the preview window ---------------------------------------------------------------------------

class PreviewPart(EnginePart):
    """A windowed preview of the output, with the status overlay, on `monitor` (index or name).

    With an output window, the preview's GL context shares the output's objects and draws the
    final picture straight from its texture; with a headless output it uploads the read-back
    pixels.  Drawing never waits for the display (no vsync on the preview).  Key presses in
    the preview go to the show as if pressed on the output (`engine.handle_key`); closing the
    preview window closes only the preview.
    """

    def __init__(self, engine, monitor=None, size: tuple[int, int] | None = None, overlay: bool = True,
                 keep_pixels: bool = False, position: tuple[int, int] | None = None) -> None:
        from ..render import WindowSurface

        self.engine = engine
        main = engine.surface
        self.shared = isinstance(main, WindowSurface) and main.window is not None
        if size is None:
            size = _preview_size(engine)
        self.window = WindowSurface(size, monitor=monitor, title="latentperform preview", vsync=False,
                                    share=main if self.shared else None, position=position)
        self.overlay = bool(overlay)
        self.hud = None
        self.keep_pixels = keep_pixels
        self.last_pixels: np.ndarray | None = None  # what the preview showed (keep_pixels only)
        self.source = "none"  # which picture the preview shows: "output" (shared) or "pixels"
        self._open_objects()
        self._restore_main()

    def _open_objects(self) -> None:
        """What the preview draws with, in its (new) context."""
        from ..render import Hud
        from ..render.shaders import TextureBlit
        # Shared: the engine draws its final picture into `output_texture` for us.  Without a
        # shared context the picture arrives as pixels read back by the engine.
        self.wants_texture = self.shared
        self.wants_pixels = not self.shared
        ctx = self.window.ctx
        self.blit = TextureBlit(ctx)
        shown = self.hud.visible if self.hud is not None else True   # (p keeps its choice)
        self.hud = Hud(ctx) if self.overlay else None
        if self.hud is not None and not shown:
            self.hud.toggle()
        self._external: tuple | None = None  # (key, the output's texture as an object of our context)
        self._uploaded = None  # a FrameTexture in the preview's context (headless output only)

    def context_renewed(self, engine) -> None:
        """The output's context is new: the preview's window and context are made again, sharing
        the new one (the old shared the objects of a context that is gone)."""
        from ..render import WindowSurface
        if self.window.window is None:
            return
        main = engine.surface
        self.shared = isinstance(main, WindowSurface) and main.window is not None
        self._external = self._uploaded = None   # names of the old context: never reuse them
        try:
            self.window.renew(share=main if self.shared else None)
            self._open_objects()
        except Exception as e:
            engine.report(f"the preview could not be opened again ({e}): the output goes on without it")
            self.overlay, self.hud = False, None
            try:
                self.window.close()
            except Exception as e2:
                log.debug("closing the preview: %s", e2)
        finally:
            self._restore_main()

    # -- where the picture comes from -----------------------------------------------------------

    def _shared_texture(self, tex):
        """The output context's texture `tex` as an object of the preview's context (no copy)."""
        key = (tex.glo, tuple(tex.size), tex.components, tex.dtype)
        if self._external is None or self._external[0] != key:
            # external textures are views: dropping one never deletes the output's texture
            self._external = (key, self.window.ctx.external_texture(tex.glo, tuple(tex.size),
                                                                    tex.components, 0, tex.dtype))
        return self._external[1]

    def _picture(self, engine):
        if self.shared and engine.output_texture is not None:
            self.source = "output"
            return self._shared_texture(engine.output_texture)
        pixels = engine.last_pixels
        if pixels is not None:
            self.source = "pixels"
            if self._uploaded is None:
                from ..render import FrameTexture
                self._uploaded = FrameTexture(self.window.ctx)
            self._uploaded.upload(pixels)
            return self._uploaded.texture
        return None

    # -- the hooks --------------------------------------------------------------------------------

    def after_frame(self, engine, params, t: float) -> None:
        if self.window.window is None:
            return
        if self.window.should_close():  # the performer closed the preview: the show goes on
            engine.notice("preview window closed (the output goes on)")
            self.close()
            return
        keys = self.window.poll_keys()
        try:
            self.window.make_current()
            self.draw(engine)
        finally:
            self._restore_main()
        for key in keys:  # a key pressed in the preview does what it does on the output
            engine.handle_key(key)

    def draw(self, engine) -> None:
        target = self.window.target
        self.blit.draw(self._picture(engine), target, self.window.size)
        if self.hud is not None:  # the engine's status lines (rebuilt a few times a second)
            self.hud.draw(engine.overlay_lines(), target, (0, 0, *self.window.size))
        if self.keep_pixels:
            self.last_pixels = self.window.read_pixels()
        self.window.present()

    def _restore_main(self) -> None:
        """Give the GL context back to the output (a window, or an offscreen EGL context)."""
        main = self.engine.surface
        if hasattr(main, "make_current"):
            main.make_current()
        else:
            main.ctx.__enter__()  # moderngl's standalone context: eglMakeCurrent on its own context

    def on_key(self, engine, key: str) -> bool:
        if key == "p" and self.hud is not None:  # the preview's overlay (h is the output's)
            self.hud.toggle()
            return True
        return False

    def close(self) -> None:
        if self.window.window is None:
            return
        try:
            self.window.make_current()
            self._external = None
            if self._uploaded is not None:
                self._uploaded.release()
            if self.hud is not None:
                self.hud.release()
            self.blit.release()
        finally:
            self.window.close()
            if self.engine.surface is not None:
                try:
                    self._restore_main()
                except Exception:
                    pass


# -- what `latentperform run` calls -------------------------------------------------------------------


PREVIEW_GAP = 16  # pixels between a windowed output and the preview beside it


def _preview_place(engine, preview_monitor, preview_size: tuple[int, int]):
    """(monitor, position) for the preview: the monitor asked for; else one that a fullscreen
    output does not cover; else, beside a windowed output (right of it when that fits on the
    desktop, else left of it)."""
    if preview_monitor is not None:
        return preview_monitor, None
    from ..render import WindowSurface
    from ..render.surface import monitors
    surface = engine.surface
    if not isinstance(surface, WindowSurface):
        return None, None
    all_monitors = monitors()
    if surface.fullscreen:
        covered = surface.monitor()
        others = [m for m in all_monitors if covered is None or m.name != covered.name]
        return (others[0].index if others else None), None
    x, y = surface.position
    w, _ = surface.size
    pw, _ = preview_size
    right_edge = max((m.x + m.width for m in all_monitors), default=0)
    left_edge = min((m.x for m in all_monitors), default=0)
    if x + w + PREVIEW_GAP + pw <= right_edge:
        return None, (x + w + PREVIEW_GAP, y)
    if x - PREVIEW_GAP - pw >= left_edge:
        return None, (x - PREVIEW_GAP - pw, y)
    return None, None


def _preview_size(engine) -> tuple[int, int]:
    out_w, out_h = engine.surface.size
    return (640, max(1, round(640 * out_h / max(out_w, 1))))


def attach_outputs(engine, *, outputs=(), preview: bool = False, preview_monitor=None) -> list[EnginePart]:
    """Attach the video outputs the patch (or command line) names, and the preview window.
    A missing optional extra or device is reported with what to install; the show goes on.
    Returns the parts attached."""
    from ..config import UserError
    from ..render.outputs import FrameSender, OutputUnavailable, make_sink

    attached: list[EnginePart] = []
    size, fps = tuple(engine.surface.size), float(engine.fps)
    for spec in outputs:
        try:
            sink = make_sink(spec)
            sink.open(size, fps)
        except (OutputUnavailable, ValueError) as e:
            engine.report(str(e))
            continue
        log.info("video output: %s (%dx%d)", sink.label, *size)
        attached.append(engine.add_part(VideoOutputPart(FrameSender(sink))))
    if preview:
        try:
            monitor, position = _preview_place(engine, preview_monitor, _preview_size(engine))
            attached.append(engine.add_part(PreviewPart(engine, monitor=monitor, position=position)))
        except UserError as e:
            engine.report(f"preview window: {e}")
    return attached
