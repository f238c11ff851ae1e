"""The offscreen surface's own lifecycle: present waits for the frame, close releases the context,
renew makes a working new one (a real EGL context each)."""

from __future__ import annotations

import numpy as np
import pytest

from latentperform.render import HeadlessSurface


def test_present_finishes_the_frame_and_close_releases_the_context():
    s = HeadlessSurface((16, 8))
    finished = []
    real = s.ctx.finish
    try:
        s.ctx.finish = lambda: (finished.append(1), real())[1]
    except AttributeError:  # a context type without instance attributes: watch the method another way
        pytest.skip("cannot watch ctx.finish on this moderngl")
    s.present()
    assert finished == [1], "present() did not wait for the frame"
    ctx = s.ctx
    s.close()
    with pytest.raises(Exception):
        ctx.texture((2, 2), 3)   # the context is gone
    s.close()  # twice is harmless


def test_renew_gives_a_working_context_of_the_same_size():
    s = HeadlessSurface((16, 8))
    try:
        old = s.ctx
        s.renew()
        assert s.ctx is not old and s.size == (16, 8)
        s.ctx.clear(1.0, 0.0, 0.0)
        px = s.read_pixels()
        assert px.shape == (8, 16, 3) and np.all(px[..., 0] == 255) and np.all(px[..., 1] == 0)
        with pytest.raises(Exception):
            old.texture((2, 2), 3)   # the old one was released
    finally:
        s.close()
