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
