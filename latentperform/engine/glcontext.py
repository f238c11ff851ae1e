"""Keeping the GL context: a show whose drawing fails because the context is gone (a GPU reset,
a driver that dropped it, a window the display server took away) makes a new one and goes on.

The tick hands every failure of drawing or presenting to `GLKeeper.failed`, and once a second
asks glGetError (a context lost without the robustness extension raises nothing: its calls do
nothing and only GL_CONTEXT_LOST says so).  A failure that says the context is gone (moderngl's
"context was released", an object of a released context, GL_CONTEXT_LOST), or any failure three
frames in a row, renews it:

  surface.renew()          a new context (and window: same size, monitor, fullscreen, title)
  the engine's GL objects  frame texture, crossfade, shader chain, offscreen target, overlay
  the picture              the newest good generator frame goes up again (a frozen show keeps it)
  parts                    `context_renewed(engine)`: drop objects of the old context

Offline (a render to a file) a failure is not absorbed: the render fails rather than skip a frame.
A renewal that fails (no context can be made just now) is tried again after 1, 2, 4... s (at
most 10 s apart) while the show's clock, inputs and generator go on; no frame is presented
meanwhile, so installation mode's watchdog, which pings only for presented frames, restarts
the process if the context never comes back.  Shader history (feedback trails) starts afresh.
"""

from __future__ import annotations

import logging
import time

import moderngl

log = logging.getLogger("latentperform.engine")

FAILURES_BEFORE_RENEW = 3   # drawing failures in a row that renew the context whatever they say
RETRY_FIRST_S = 1.0          # a failed renewal is tried again after this, doubling...
RETRY_MAX_S = 10.0           # ...up to this
CHECK_EVERY_S = 1.0          # glGetError asked this often after a good frame (a silent loss)
LOST_WORDS = ("context was released", "invalidobject", "context_lost", "context lost")


def looks_lost(error: BaseException, ctx) -> bool:
    """True when `error` (raised while drawing with `ctx`) says the context itself is gone."""
    text = f"{type(error).__name__} {error}".lower()
    if any(word in text for word in LOST_WORDS):
        return True
    try:
        return "CONTEXT_LOST" in str(ctx.error)
    except Exception:  # the context cannot even be asked: it is gone
        return True


def classify(error: BaseException, ctx) -> bool | None:
    """What `error`, raised while drawing with `ctx`, is: True when it says the context is gone,
    False for another error of the GL (moderngl's, glfw's), None for anything else (a bug: the
    tick lets it through as before).  Asks glGetError at most once (asking clears its flag)."""
    if looks_lost(error, ctx):
        return True
    return False if isinstance(error, moderngl.Error) or type(error).__name__ == "GLFWError" else None


class GLKeeper:
    """See the module docstring; `upload` is tick.upload_frame.  `renewals` counts contexts made
    anew; `lost` is True while the show has no working context (from a loss until a frame is
    drawn and presented in a new one).

    Renewals keep to the back-off too: a context that is made anew and fails again at once is
    not rebuilt every frame (a window would flicker open and closed); the back-off starts over
    only after a good frame."""

    def __init__(self, upload) -> None:
        self.upload = upload   # upload(engine, frame): a generator picture into the frame texture
        self.failures = 0
        self.renewals = 0
        self.lost = False
        self._retry_at = 0.0
        self._retry_s = RETRY_FIRST_S
        self._checked_at = 0.0

    def ok(self, engine) -> bool:
        """The frame was drawn and presented without an error; True when it counts as shown.
        Once a second glGetError is asked too: a context lost without a robustness extension
        raises nothing, its calls just do nothing, and only GL_CONTEXT_LOST says so."""
        now = time.monotonic()
        if not self.lost and now - self._checked_at >= CHECK_EVERY_S:
            self._checked_at = now
            try:
                error = str(engine.surface.ctx.error)
            except Exception as e:  # the context cannot even be asked
                error = f"GL_CONTEXT_LOST ({e!r})"
            if "CONTEXT_LOST" in error:
                self.failed(engine, RuntimeError(error), lost=True)
                return False
        if self.lost:  # drawn into a context known to be gone (a silent loss): not shown
            self._try_renew(engine)
            return False
        self.failures = 0
        self._retry_s = RETRY_FIRST_S
        return True

    def failed(self, engine, error: BaseException, lost: bool) -> None:
        """Drawing or presenting this frame raised `error`, an error of the GL; `lost`: it says
        the context is gone (classify)."""
        self.failures += 1
        if not self.lost:
            if self.failures == 1:
                engine.report(f"drawing failed: {error!r}")
            if not (lost or self.failures >= FAILURES_BEFORE_RENEW):
                return
            self.lost = True
            engine.report(f"the GL context is lost ({error!r}): making a new one")
        self._try_renew(engine)

    def _try_renew(self, engine) -> None:
        now = time.monotonic()
        if now < self._retry_at:
            return
        self._retry_at = now + self._retry_s
        self._retry_s = min(self._retry_s * 2.0, RETRY_MAX_S)
        self.renew(engine)

    def renew(self, engine) -> bool:
        """Make the context and everything drawn with it anew; True when it worked."""
        try:
            engine.surface.renew()
            engine.open_gl()
        except Exception as e:
            engine.report(f"cannot make a new GL context yet ({e}): trying again")
            return False
        frame = engine.worker.last_good   # the newest good picture (a failing model's frames carry errors)
        if frame is not None:
            try:
                self.upload(engine, frame)
            except Exception as e:
                engine.report(f"the picture could not go up again: {e!r}")
        for part in engine.parts:
            try:
                part.context_renewed(engine)
            except Exception as e:  # a part's bug costs that part, not the show
                engine.report(f"{type(part).__name__}: after the new GL context: {e!r}")
        self.lost, self.failures = False, 0   # (the back-off starts over after a good frame)
        self.renewals += 1
        engine.notice(f"GL context made anew ({self.renewals})", seconds=5.0)
        log.warning("GL context made anew (%d so far)", self.renewals)
        return True
