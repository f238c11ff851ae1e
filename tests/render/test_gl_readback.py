"""The preview's scaled, asynchronous read-back on a real EGL context, against a CPU reference."""

from __future__ import annotations

import numpy as np

from latentperform.render.readback import ScaledReadback


def _texture(gl, img: np.ndarray):
    h, w, _ = img.shape
    tex = gl.texture((w, h), 3, np.ascontiguousarray(img[::-1]).tobytes())  # GL rows bottom first
    tex.filter = (0x2601, 0x2601)  # LINEAR
    return tex


def test_a_4x_downscale_is_the_box_filter_of_the_picture_top_row_first(gl):
    rng = np.random.default_rng(3)
    img = (rng.random((64, 128, 3)) * 255).astype(np.uint8)
    img[:8] = (255, 0, 0)          # a red band on top: orientation
    tex = _texture(gl, img)
    rb = ScaledReadback(gl, width=32)
    assert rb.result() is None
    rb.take(tex)
    out = rb.result()
    assert out.shape == (16, 32, 3) and rb.result() is None
    ref = img.astype(np.float64).reshape(16, 4, 32, 4, 3).mean(axis=(1, 3))
    assert np.abs(out.astype(np.float64) - ref).max() <= 2.0   # rounding of 8-bit taps
    assert (out[:2] == (255, 0, 0)).all()
    rb.release()
    tex.release()


def test_a_take_leaves_the_current_framebuffer_bound(gl):
    fbo = gl.simple_framebuffer((8, 8))
    fbo.use()
    tex = _texture(gl, np.zeros((16, 16, 3), np.uint8))
    rb = ScaledReadback(gl, width=4)
    rb.take(tex)
    assert gl.fbo == fbo
    assert rb.result().shape == (4, 4, 3)
    rb.release()
    fbo.release()
    tex.release()
