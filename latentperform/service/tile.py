"""One screen's tile of a larger canvas ([output] tile = [column, row, columns, rows]).

The generator renders the whole canvas (shaped like columns x rows screens); each screen keeps
its own tile of that picture before the shader passes.  Tiles split the canvas's pixels exactly:
neighbouring tiles share no pixel and miss none, whatever the canvas's size.
"""

from __future__ import annotations

__all__ = ["canvas_size", "tile_rect"]


def canvas_size(tile: tuple[int, int, int, int], screen: tuple[int, int]) -> tuple[int, int]:
    """The canvas (width, height) for screens of `screen` size in a columns x rows wall."""
    _, _, cols, rows = tile
    return int(screen[0]) * cols, int(screen[1]) * rows


def tile_rect(tile: tuple[int, int, int, int], height: int, width: int) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1): the rows and columns of a (height, width) canvas picture that are this
    tile's, top row first (row 0 is the top of the wall)."""
    col, row, cols, rows = tile
    if not (0 <= col < cols and 0 <= row < rows):
        raise ValueError(f"tile {list(tile)} is outside its {cols} x {rows} canvas")
    x0, x1 = (col * width) // cols, ((col + 1) * width) // cols
    y0, y1 = (row * height) // rows, ((row + 1) * height) // rows
    return y0, y1, x0, x1
