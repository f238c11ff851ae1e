"""Travelling the atlas map: the state behind the `atlas` trajectory mode (model-free, numpy).

    travel = AtlasTravel(positions, w, labels, centres)
    w = travel.step(x, y, zoom, dt, beat=..., beats_per_bar=4, tour=False, steps=0)   # (w_dim,)
    travel.position, travel.trail

Where the map position comes from, each tick:
  the pad       atlas/x, atlas/y (OSC /lp/atlas/xy x y, two MIDI CCs, a joystick): when the
                performer moves them, the position glides there (one-pole, `glide` seconds)
  a step        each atlas/step firing (map audio/onset to it) sends the position to the next
                neighbouring region: the nearest region centre not yet visited in this run of
                steps (so a run of onsets wanders, never ping-pongs between two regions)
  the tour      while atlas/tour is on, one region per bar locked to the beat: in bar b the
                position glides from region b's centre to region b + 1's over the bar (eased),
                arriving on the downbeat; the regions in the atlas's reading order

then latent.maplookup gives W there: continuous in the position, so every glide is continuous
in W too.  All state changes in `step`, from (inputs, dt, beat) only: a replayed show (same
events, same clock) travels the same path, frame for frame.
"""

from __future__ import annotations

import math
from collections import deque

import numpy as np

from .interp import smoothstep
from .maplookup import MapLookup

MINIMAP_PX = 128   # the drawn minimap's side, pixels
MINIMAP_CELLS = 48  # the regions are sampled on this grid for it
_PALETTE = np.array([(230, 90, 70), (70, 160, 230), (120, 200, 90), (240, 190, 60), (170, 110, 220),
                     (60, 200, 190), (240, 130, 180), (150, 150, 150), (200, 120, 60), (90, 110, 200)])


def _dot(img: np.ndarray, x: float, y: float, r: int, rgb) -> None:
    """A filled square of half-side r at map place (x, y) in [0, 1]² (y down)."""
    h, w = img.shape[:2]
    cx = min(max(int(round(float(x) * (w - 1))), 0), w - 1)
    cy = min(max(int(round(float(y) * (h - 1))), 0), h - 1)
    img[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1, :3] = rgb
    img[max(cy - r, 0):cy + r + 1, max(cx - r, 0):cx + r + 1, 3] = 255


TRAIL = 96  # positions kept for the minimap's trail (a few seconds at show frame rates)


class AtlasTravel:
    def __init__(self, positions: np.ndarray, w: np.ndarray, labels: np.ndarray | None = None,
                 centres: np.ndarray | None = None, glide: float = 0.15) -> None:
        self.lookup = MapLookup(positions, w)
        pos = self.lookup.positions
        if centres is None or len(centres) == 0:
            centres = pos.mean(0, keepdims=True)
        self.centres = np.asarray(centres, np.float64).reshape(-1, 2)
        self.labels = None if labels is None else np.asarray(labels)
        self.glide = max(float(glide), 0.0)
        self.position = np.array([0.5, 0.5])
        self.target = self.position.copy()
        self._last_xy: tuple[float, float] | None = None
        self._visited: list[int] = []
        self.trail: deque[tuple[float, float]] = deque(maxlen=TRAIL)
        self._map_rgba: np.ndarray | None = None   # the minimap's regions, drawn once
        self.region = self.region_at(*self.position)

    def region_at(self, x: float, y: float) -> int:
        if self.labels is not None and len(self.labels):
            return int(self.labels[self.lookup.nearest(x, y)])
        return int(np.argmin(((self.centres - (x, y)) ** 2).sum(1)))

    def neighbour(self) -> int:
        """The region a step goes to: the nearest centre not visited in this run of steps."""
        here = self.region_at(*self.position)
        if not self._visited or self._visited[-1] != here:
            self._visited = [here]
        d = ((self.centres - self.position) ** 2).sum(1)
        d[self._visited] = np.inf
        if not np.isfinite(d).any():  # every region visited: start a new run from here
            self._visited = [here]
            d = ((self.centres - self.position) ** 2).sum(1)
            d[here] = np.inf
            if not np.isfinite(d).any():
                return here
        nxt = int(np.argmin(d))
        self._visited.append(nxt)
        return nxt

    def tour_position(self, beat: float, beats_per_bar: int) -> np.ndarray:
        n = len(self.centres)
        bar = beat / max(int(beats_per_bar), 1)
        k = int(math.floor(bar))
        frac = smoothstep(bar - k)
        a, b = self.centres[k % n], self.centres[(k + 1) % n]
        return a + frac * (b - a)

    def step(self, x: float, y: float, zoom: float, dt: float, *, beat: float = 0.0, beats_per_bar: int = 4,
             tour: bool = False, steps: int = 0) -> np.ndarray:
        """Advance by dt seconds; (w_dim,) float32 W at the new position."""
        xy = (min(max(float(x), 0.0), 1.0), min(max(float(y), 0.0), 1.0))
        if self._last_xy is None:
            self.position = np.array(xy, np.float64)  # the first tick starts where the pad is
            self.target = self.position.copy()
        elif xy != self._last_xy:
            self.target = np.array(xy, np.float64)
        self._last_xy = xy
        for _ in range(int(steps)):
            self.target = self.centres[self.neighbour()].copy()
        if tour:
            self.position = self.tour_position(beat, beats_per_bar)
            self.target = self.position.copy()
        elif self.glide > 0 and dt > 0:
            self.position = self.position + (self.target - self.position) * (1.0 - math.exp(-dt / self.glide))
        else:
            self.position = self.target.copy()
        self.trail.append((float(self.position[0]), float(self.position[1])))
        self.region = self.region_at(*self.position)
        return self.lookup(self.position[0], self.position[1], zoom)

    def minimap(self, cols: int = 24, rows: int = 10) -> list[str]:
        """Text minimap for the overlay: region numbers (as letters) of the map, the trail as '·',
        the position as '@'."""
        grid = []
        for r in range(rows):
            line = []
            for c in range(cols):
                x, y = (c + 0.5) / cols, (r + 0.5) / rows
                reg = self.region_at(x, y)
                line.append(chr(ord("a") + reg % 26))
            grid.append(line)
        for tx, ty in self.trail:
            c, r = min(int(tx * cols), cols - 1), min(int(ty * rows), rows - 1)
            grid[r][c] = "·"
        c = min(int(self.position[0] * cols), cols - 1)
        r = min(int(self.position[1] * rows), rows - 1)
        grid[r][c] = "@"
        return ["".join(line) for line in grid]

    def picture(self, size: int = MINIMAP_PX, bare: bool = False) -> np.ndarray:
        """The drawn minimap: (size, size, 4) uint8 RGBA, top row first (y down, as on the
        poster): the regions in colours with darker borders, the trail as a fading line of dots,
        the place as a white dot ringed in black (`bare`: the regions alone).  The regions are
        worked out once per size."""
        if self._map_rgba is None or self._map_rgba.shape[0] != size:
            n = MINIMAP_CELLS
            labels = np.array([[self.region_at((c + 0.5) / n, (r + 0.5) / n) for c in range(n)]
                               for r in range(n)])
            rgb = _PALETTE[labels % len(_PALETTE)].astype(np.float32)
            edge = np.zeros((n, n), bool)
            edge[:, :-1] |= labels[:, :-1] != labels[:, 1:]
            edge[:-1, :] |= labels[:-1, :] != labels[1:, :]
            rgb[edge] *= 0.45
            cell = -(-size // n)
            big = np.repeat(np.repeat(rgb, cell, 0), cell, 1)[:size, :size]
            rgba = np.empty((size, size, 4), np.uint8)
            rgba[..., :3] = big.astype(np.uint8)
            rgba[..., 3] = 200
            self._map_rgba = rgba
        out = self._map_rgba.copy()
        if bare:
            return out
        trail = list(self.trail)
        for i, (tx, ty) in enumerate(trail):  # older dots dimmer
            level = 120 + int(135 * (i + 1) / max(len(trail), 1))
            _dot(out, tx, ty, 1, (level, level, level))
        _dot(out, self.position[0], self.position[1], 4, (0, 0, 0))
        _dot(out, self.position[0], self.position[1], 2, (255, 255, 255))
        return out

    def carry_from(self, old: "AtlasTravel") -> None:
        """A reloaded patch keeps the place on the map and the trail."""
        self.position, self.target = old.position.copy(), old.target.copy()
        self._last_xy = old._last_xy
        self.trail = deque(old.trail, maxlen=TRAIL)
