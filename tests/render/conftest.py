"""Fixtures for real GL on a headless machine: EGL offscreen contexts (Mesa llvmpipe)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def gl():
    """One offscreen EGL context per test module (creating one takes ~50 ms)."""
    from latentperform.render import HeadlessSurface

    surface = HeadlessSurface((64, 64))
    yield surface.ctx
    surface.close()
