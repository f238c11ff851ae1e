import numpy as np
import pytest

from latentperform.service.tile import canvas_size, tile_rect


@pytest.mark.parametrize("cols,rows,h,w", [(3, 1, 90, 481), (2, 2, 101, 64), (1, 1, 16, 16), (4, 3, 257, 130)])
def test_tiles_split_the_canvas_exactly(cols, rows, h, w):
    seen = np.zeros((h, w), int)
    for r in range(rows):
        for c in range(cols):
            y0, y1, x0, x1 = tile_rect((c, r, cols, rows), h, w)
            seen[y0:y1, x0:x1] += 1
            assert y1 > y0 and x1 > x0
    assert (seen == 1).all()  # every pixel in exactly one tile


def test_rows_count_from_the_top_and_the_canvas_is_the_wall():
    assert tile_rect((0, 0, 1, 2), 100, 10) == (0, 50, 0, 10)
    assert tile_rect((2, 0, 3, 1), 90, 300) == (0, 90, 200, 300)
    assert canvas_size((1, 0, 3, 1), (1920, 1080)) == (5760, 1080)
    with pytest.raises(ValueError):
        tile_rect((3, 0, 3, 1), 10, 10)


def test_screens_of_a_wall_show_their_tiles_of_one_picture():
    """Three real shows (EGL offscreen), tiles 0, 1, 2 of a 3 x 1 wall, against one show of the
    whole canvas: each screen's picture is its third of the wall's (the same generator frame,
    scaled by the output pass, so compared after averaging down)."""
    from dataclasses import replace

    from latentperform.clock import FixedStepClock
    from latentperform.config import DEFAULT_PATCH
    from latentperform.engine.show import open_show
    from latentperform.patch import load_patch
    from latentperform.render import HeadlessSurface

    base = load_patch(DEFAULT_PATCH)
    base = replace(base, output=replace(base.output, shaders=()), model=replace(base.model, resolution=48))

    def frame(patch, size):
        eng = open_show(patch, surface=HeadlessSurface(size), clock=FixedStepClock(10), fps=10, offline=True)
        try:
            for _ in range(3):
                px = eng.step()
            return px.astype(float)
        finally:
            eng.close()
            eng.surface.close()

    wall = frame(base, (144, 32))
    for col in range(3):
        tiled = replace(base, output=replace(base.output, tile=(col, 0, 3, 1)))
        screen = frame(tiled, (48, 32))
        part = wall[:, col * 48:(col + 1) * 48]
        assert np.abs(screen - part).mean() < 12, (col, np.abs(screen - part).mean())  # its own third
        others = [np.abs(screen - wall[:, c * 48:(c + 1) * 48]).mean() for c in range(3) if c != col]
        assert min(others) > np.abs(screen - part).mean() + 3  # and not a neighbour's
