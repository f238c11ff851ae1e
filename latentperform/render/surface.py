"""Where the picture goes: an offscreen framebuffer or a window, behind one interface.

The app draws the same way on both: render into `surface.target` (a moderngl framebuffer) inside
`surface.viewport()`, optionally `read_pixels()`, then `present()`.

Both backends make EGL contexts.  Mixing an EGL context and a GLX context in one process makes
Xlib call exit(1) (see shared/specs/test-environment.md), so the window asks glfw for an EGL
context too, and only falls back to the platform's native API (GLX on X11) when EGL cannot make a
window; `WindowSurface.context_api` says which one it got.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import sys
import warnings
from dataclasses import dataclass
from typing import Iterator

import moderngl
import numpy as np

from ..config import UserError

log = logging.getLogger("latentperform.render")

NO_DISPLAY = "no display found (DISPLAY is not set): use --headless to render offscreen"
GL_VERSION = 330


class Surface:
    """The interface the engine draws through.  Subclasses fill in ctx, target and size."""

    ctx: moderngl.Context
    target: moderngl.Framebuffer
    size: tuple[int, int]  # (width, height) in pixels of `target`

    def viewport(self) -> tuple[int, int, int, int]:
        """(x, y, width, height) of the area to draw into: all of the target."""
        return (0, 0, *self.size)

    def read_pixels(self) -> np.ndarray:
        """What was drawn into `target`: (H, W, 3) uint8, top row first.  Call before present()."""
        w, h = self.size
        data = self.target.read(viewport=(0, 0, w, h), components=3, alignment=1)
        return np.frombuffer(data, dtype=np.uint8).reshape(h, w, 3)[::-1].copy()

    def present(self) -> None:
        pass

    def renew(self) -> None:
        """Make a new GL context (the old one is lost): `ctx` and `target` are replaced, `size`
        and what shows it (the window, its monitor) stay.  Raises when it cannot."""
        raise UserError(f"a {type(self).__name__} cannot make a new GL context")

    def should_close(self) -> bool:
        return False

    def request_close(self) -> None:
        pass

    def poll_keys(self) -> list[str]:
        """Key names pressed since the last call ('f', 'h', 'escape', 'space', 'f11' ...)."""
        return []

    def toggle_fullscreen(self) -> None:
        pass

    @property
    def swap_interval(self) -> int:
        return 0

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


SOFTWARE_GL = ("llvmpipe", "softpipe", "swrast", "software")


def software_renderer(ctx) -> bool:
    """True when `ctx` rasterises on the CPU (Mesa's llvmpipe and friends), not on a GPU."""
    renderer = str(ctx.info.get("GL_RENDERER", "")).lower()
    return any(s in renderer for s in SOFTWARE_GL)


def create_egl_context() -> moderngl.Context:
    """A standalone (offscreen) GL 3.3+ context through EGL: needs no display."""
    try:
        return moderngl.create_context(standalone=True, backend="egl", require=GL_VERSION)
    except Exception as e:
        raise UserError(f"cannot create an offscreen OpenGL context through EGL ({e}); "
                        f"install libegl1 and libegl-mesa0 (or a GPU driver with EGL)") from None


class HeadlessSurface(Surface):
    """Renders into an RGBA8 framebuffer of `size`; no window, no display needed."""

    def __init__(self, size: tuple[int, int], ctx: moderngl.Context | None = None) -> None:
        self.size = (int(size[0]), int(size[1]))
        self._own_ctx = ctx is None
        self.ctx = ctx if ctx is not None else create_egl_context()
        self._open_target()
        self._closed = False

    def _open_target(self) -> None:
        self._color = self.ctx.texture(self.size, 4)
        self.target = self.ctx.framebuffer(color_attachments=[self._color])
        self.target.use()

    def renew(self) -> None:
        if not self._own_ctx:
            raise UserError("the offscreen surface draws in a context it was given: it cannot make a new one")
        old = self.ctx
        self.ctx = create_egl_context()
        self._open_target()
        _release_quietly(old)

    def resize(self, size: tuple[int, int]) -> None:
        self._color.release()
        self.target.release()
        self.size = (int(size[0]), int(size[1]))
        self._open_target()

    def present(self) -> None:
        # Nothing to show; make sure the frame is finished so timings mean something.
        self.ctx.finish()

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.target.release()
        self._color.release()
        if self._own_ctx:
            self.ctx.release()


def _release_quietly(ctx) -> None:
    """Release a context that may be gone already (a lost one raises, or is released)."""
    try:
        ctx.release()
    except Exception as e:
        log.debug("releasing a lost GL context: %s", e)


# -- windows ------------------------------------------------------------------------------------

_glfw_users = 0


def _require_display() -> None:
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        raise UserError(NO_DISPLAY)


def _glfw():
    """Import and initialise glfw once per process (reference counted by open windows)."""
    try:
        import glfw
    except ImportError:
        raise UserError("a window needs the glfw package: pip install glfw "
                        "(or use --headless to render offscreen)") from None
    _require_display()
    with warnings.catch_warnings():  # the failure is reported below, as one line
        warnings.simplefilter("ignore", glfw.GLFWError)
        ok = glfw.init()
    if not ok:
        desc = glfw.get_error()[1] if hasattr(glfw, "get_error") else None
        raise UserError(f"cannot open the display {os.environ.get('DISPLAY', '')!r}"
                        + (f" ({desc.decode(errors='replace') if isinstance(desc, bytes) else desc})" if desc else "")
                        + ": use --headless to render offscreen")
    return glfw


def _name(raw) -> str:
    return raw.decode(errors="replace") if isinstance(raw, bytes) else str(raw or "")


@dataclass(frozen=True)
class Monitor:
    """One monitor as glfw sees it: its index (what `monitor = 1` means), name and desktop area."""

    index: int
    name: str
    x: int
    y: int
    width: int
    height: int
    refresh_rate: int

    def __str__(self) -> str:
        return f"{self.name} {self.width}x{self.height}@{self.refresh_rate}Hz at ({self.x}, {self.y})"


def _monitor_info(glfw, index: int, m) -> Monitor:
    mode = glfw.get_video_mode(m)
    x, y = glfw.get_monitor_pos(m)
    return Monitor(index, _name(glfw.get_monitor_name(m)), int(x), int(y), int(mode.size.width),
                   int(mode.size.height), int(mode.refresh_rate))


def monitors() -> list[Monitor]:
    """Every monitor glfw sees, primary first."""
    glfw = _glfw()
    try:
        return [_monitor_info(glfw, i, m) for i, m in enumerate(glfw.get_monitors() or [])]
    finally:
        if _glfw_users == 0:
            glfw.terminate()


def list_monitors() -> list[str]:
    """'name WxH@Hz at (x, y)' for every monitor glfw sees, primary first."""
    return [str(m) for m in monitors()]


def _pick_monitor(glfw, monitor):
    monitors = list(glfw.get_monitors() or [])
    if not monitors:
        raise UserError("no monitor found for a fullscreen window")
    if monitor is None:
        return glfw.get_primary_monitor() or monitors[0]
    if isinstance(monitor, int) or (isinstance(monitor, str) and monitor.isdigit()):
        i = int(monitor)
        if not 0 <= i < len(monitors):
            names = ", ".join(f"[{k}] {_name(glfw.get_monitor_name(m))}" for k, m in enumerate(monitors))
            raise UserError(f"monitor {i} does not exist; there are: {names}")
        return monitors[i]
    for m in monitors:
        if str(monitor).lower() in _name(glfw.get_monitor_name(m)).lower():
            return m
    names = ", ".join(_name(glfw.get_monitor_name(m)) for m in monitors)
    raise UserError(f"no monitor named {monitor!r}; there are: {names}")


class _GlfwLoader:
    """Lets moderngl use the context glfw made current (glcontext cannot detect EGL contexts).
    `with surface.ctx:` makes the window's context current (and leaves it so)."""

    def __init__(self, glfw) -> None:
        self._glfw = glfw
        self.window = None

    def load_opengl_function(self, name: str) -> int:
        return self._glfw.get_proc_address(name) or 0

    def __enter__(self):
        if self.window is not None:
            self._glfw.make_context_current(self.window)
        return self

    def __exit__(self, *exc) -> None:
        pass

    def release(self) -> None:
        pass


class WindowSurface(Surface):
    """A glfw window, windowed or fullscreen on a chosen monitor (index or part of its name).

    `target` is the window's default framebuffer; `size` follows the framebuffer when the window
    is resized or toggled fullscreen.  Keys arrive through `poll_keys()` as lowercase names.
    Frame pacing is the caller's job: `vsync` asks the driver to wait for the display's refresh
    (Xvfb has none), `swap_interval` says what was asked.

    Windowed with a `monitor`, the window opens in the middle of that monitor (or at `position`,
    desktop coordinates).  With `share` (another WindowSurface), the two GL contexts share
    textures and buffers: `ctx.external_texture(tex.glo, ...)` shows the other window's texture
    without a copy.  Each window has its own `ctx`; `make_current()` (or `with surface.ctx:`)
    selects it before drawing when more than one window is open.
    """

    def __init__(self, size: tuple[int, int], fullscreen: bool = False, monitor=None,
                 title: str = "latentperform", vsync: bool = True, *,
                 share: "WindowSurface | None" = None, position: tuple[int, int] | None = None) -> None:
        global _glfw_users
        if share is not None and share.window is None:
            raise ValueError("cannot share the context of a closed window")
        glfw = _glfw()
        self._g = glfw
        self.title = title
        self._windowed_size = (int(size[0]), int(size[1]))
        self._windowed_pos: tuple[int, int] | None = None
        self._monitor_choice = monitor
        self._keys: collections.deque[str] = collections.deque(maxlen=64)
        self._close_requested = False
        self.window = None

        try:
            mon = _pick_monitor(glfw, monitor) if (fullscreen or monitor is not None) else None
            made = self._create_window(mon if fullscreen else None, share)
            self.window, self.context_api, self.robust = made
            if not fullscreen and (mon is not None or position is not None):
                self._windowed_pos = self._place(mon, position)
        except BaseException:
            if self.window is not None:
                glfw.destroy_window(self.window)
            if _glfw_users == 0:  # leave glfw as we found it: the next window may use another display
                glfw.terminate()
            raise
        _glfw_users += 1
        self._swap_interval = 1 if vsync else 0
        self._attach_context()
        self.fullscreen = bool(fullscreen)
        self.shares_with = share

    def _attach_context(self) -> None:
        """A moderngl context on the (new) window, its swap interval and callbacks."""
        glfw = self._g
        glfw.make_context_current(self.window)
        glfw.swap_interval(self._swap_interval)
        loader = _GlfwLoader(glfw)
        loader.window = self.window
        self.ctx = moderngl.create_context(require=GL_VERSION, context=loader)
        self.target = self.ctx.detect_framebuffer(0)
        self.size = tuple(glfw.get_framebuffer_size(self.window))
        self.target.viewport = (0, 0, *self.size)
        glfw.set_key_callback(self.window, self._on_key)
        glfw.set_framebuffer_size_callback(self.window, self._on_resize)

    def renew(self, share: "WindowSurface | None" = None) -> None:
        """A new window and context in place of the old (same size, place, monitor, fullscreen,
        title); `share`: the (renewed) window whose objects the new context shares."""
        glfw = self._g
        old = self.window
        if old is not None and not self.fullscreen:  # where and how big the performer left it
            try:
                self._windowed_pos = tuple(glfw.get_window_pos(old))
                self._windowed_size = tuple(glfw.get_window_size(old))
            except Exception as e:
                log.debug("the old window's place: %s", e)
        mon = _pick_monitor(glfw, self._monitor_choice) if self.fullscreen else None
        self.window, self.context_api, self.robust = self._create_window(mon, share)
        if old is not None:
            try:
                glfw.destroy_window(old)
            except Exception as e:
                log.debug("closing the old window: %s", e)
        if not self.fullscreen and self._windowed_pos is not None:
            glfw.set_window_pos(self.window, *self._windowed_pos)
        self._attach_context()
        self.shares_with = share

    def _place(self, mon, position) -> tuple[int, int]:
        """Move the (windowed) window to `position`, or to the middle of monitor `mon`."""
        glfw = self._g
        if position is not None:
            x, y = int(position[0]), int(position[1])
        else:
            info = _monitor_info(glfw, 0, mon)
            w, h = self._windowed_size
            x = info.x + max((info.width - w) // 2, 0)
            y = info.y + max((info.height - h) // 2, 0)
        glfw.set_window_pos(self.window, x, y)
        return (x, y)

    def _create_window(self, mon, share=None):
        glfw = self._g
        w, h = self._windowed_size
        if mon is not None:
            mode = glfw.get_video_mode(mon)
            w, h = mode.size.width, mode.size.height
        # Shared contexts must come from the same API (EGL with EGL, GLX with GLX).
        apis = (share.context_api,) if share is not None else ("egl", "native")
        # a context that is told of a GPU reset (GL_CONTEXT_LOST from glGetError: glcontext.py)
        # where the driver offers it, else a plain one; a shared context takes its share's kind
        robust = (share.robust,) if share is not None else (True, False)
        for api, robustness in itertools.product(apis, robust):
            glfw.default_window_hints()
            if robustness:
                glfw.window_hint(glfw.CONTEXT_ROBUSTNESS, glfw.LOSE_CONTEXT_ON_RESET)
            glfw.window_hint(glfw.CONTEXT_VERSION_MAJOR, 3)
            glfw.window_hint(glfw.CONTEXT_VERSION_MINOR, 3)
            glfw.window_hint(glfw.OPENGL_PROFILE, glfw.OPENGL_CORE_PROFILE)
            glfw.window_hint(glfw.OPENGL_FORWARD_COMPAT, True)
            glfw.window_hint(glfw.CONTEXT_CREATION_API,
                             glfw.EGL_CONTEXT_API if api == "egl" else glfw.NATIVE_CONTEXT_API)
            # A fullscreen output must stay up when the performer clicks into the preview window
            # (glfw would otherwise minimise it when it loses focus).
            glfw.window_hint(glfw.AUTO_ICONIFY, False)
            if mon is not None:  # keep the monitor's current mode (a projector's refresh rate)
                glfw.window_hint(glfw.REFRESH_RATE, mode.refresh_rate)
            try:
                with warnings.catch_warnings():  # a failed try is expected: the next API is tried
                    warnings.simplefilter("ignore", glfw.GLFWError)
                    win = glfw.create_window(w, h, self.title, mon,
                                             share.window if share is not None else None)
            except Exception:  # pyglfw raises GLFWError when its error reporting is 'raise'
                win = None
            if win:
                return win, api, robustness
        what = " sharing the output window's context" if share is not None else ""
        raise UserError(f"cannot open a {w}x{h} OpenGL 3.3 window{what} on display "
                        f"{os.environ.get('DISPLAY', '')!r}: use --headless to render offscreen")

    # -- events ---------------------------------------------------------------------------------

    _SPECIAL = {"ESCAPE": "escape", "SPACE": "space", "ENTER": "enter", "TAB": "tab", "LEFT": "left",
                "RIGHT": "right", "UP": "up", "DOWN": "down", "BACKSPACE": "backspace"}

    def _key_name(self, key: int, scancode: int) -> str | None:
        glfw = self._g
        name = glfw.get_key_name(key, scancode)
        if name:
            return _name(name).lower()
        for attr, nice in self._SPECIAL.items():
            if key == getattr(glfw, f"KEY_{attr}"):
                return nice
        if glfw.KEY_F1 <= key <= glfw.KEY_F12:
            return f"f{key - glfw.KEY_F1 + 1}"
        if glfw.KEY_A <= key <= glfw.KEY_Z:  # layouts where get_key_name gives nothing
            return chr(ord("a") + key - glfw.KEY_A)
        return None

    def _on_key(self, window, key, scancode, action, mods) -> None:
        if action == self._g.PRESS:
            name = self._key_name(key, scancode)
            if name:
                self._keys.append(name)

    def _on_resize(self, window, width, height) -> None:
        if width > 0 and height > 0:  # minimised windows report 0x0
            self.size = (int(width), int(height))
            self.target.viewport = (0, 0, *self.size)

    def poll_keys(self) -> list[str]:
        self._g.poll_events()
        keys = list(self._keys)
        self._keys.clear()
        return keys

    def iter_keys(self) -> Iterator[str]:
        return iter(self.poll_keys())

    # -- the interface --------------------------------------------------------------------------

    def make_current(self) -> None:
        """Make this window's GL context the current one (needed when several windows draw)."""
        self._g.make_context_current(self.window)

    @property
    def position(self) -> tuple[int, int]:
        """The window's top-left corner in desktop coordinates."""
        return tuple(self._g.get_window_pos(self.window))

    def monitor(self) -> Monitor | None:
        """The monitor the window is fullscreen on, or the one that holds its middle."""
        glfw = self._g
        all_monitors = list(glfw.get_monitors() or [])
        full = glfw.get_window_monitor(self.window)
        x, y = self.position
        w, h = glfw.get_window_size(self.window)
        cx, cy = x + w // 2, y + h // 2
        for i, m in enumerate(all_monitors):
            info = _monitor_info(glfw, i, m)
            if full:
                if _name(glfw.get_monitor_name(full)) == info.name:
                    return info
            elif info.x <= cx < info.x + info.width and info.y <= cy < info.y + info.height:
                return info
        return None

    def present(self) -> None:
        self._g.swap_buffers(self.window)
        self._g.poll_events()

    def should_close(self) -> bool:
        return self._close_requested or bool(self._g.window_should_close(self.window))

    def request_close(self) -> None:
        self._close_requested = True
        self._g.set_window_should_close(self.window, True)

    @property
    def swap_interval(self) -> int:
        return self._swap_interval

    @swap_interval.setter
    def swap_interval(self, n: int) -> None:
        self._g.make_context_current(self.window)
        self._g.swap_interval(int(n))
        self._swap_interval = int(n)

    def set_fullscreen(self, on: bool, monitor=None) -> None:
        glfw = self._g
        if on == self.fullscreen:
            return
        if on:
            self._windowed_pos = glfw.get_window_pos(self.window)
            mon = _pick_monitor(glfw, self._monitor_choice if monitor is None else monitor)
            mode = glfw.get_video_mode(mon)
            glfw.set_window_monitor(self.window, mon, 0, 0, mode.size.width, mode.size.height,
                                    mode.refresh_rate)
        else:
            x, y = self._windowed_pos or (64, 64)
            glfw.set_window_monitor(self.window, None, x, y, *self._windowed_size, 0)
        self.fullscreen = on
        glfw.swap_interval(self._swap_interval)  # some drivers forget it on a mode change
        self._on_resize(self.window, *glfw.get_framebuffer_size(self.window))

    def toggle_fullscreen(self) -> None:
        self.set_fullscreen(not self.fullscreen)

    def close(self) -> None:
        global _glfw_users
        if self.window is None:
            return
        self._g.make_context_current(self.window)
        self.ctx.release()
        self._g.destroy_window(self.window)
        self.window = None
        _glfw_users -= 1
        if _glfw_users == 0:
            self._g.terminate()
