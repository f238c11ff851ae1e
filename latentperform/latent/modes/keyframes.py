"""Mode "keyframes" (the default): the keyframe loop, and glides to a triggered keyframe.

A step of the loop lasts its keyframe's `beats` (else loop_beats) at latent/speed 1, slerping
from one keyframe to the next (resting loop_hold of each step on the keyframe), or follows the
beat grid with loop_sync = "beat".  latent/keyframe <i>, /next and /prev glide there over
latent/glide beats, then the loop goes on from there.
"""

from __future__ import annotations

import math

import numpy as np

from ...events import ParamState
from ..interp import ease_hold, slerp
from .base import LatentPoint, ModeContext, TrajectoryMode


class KeyframeLoop(TrajectoryMode):
    name = "keyframes"

    def __init__(self, ctx: ModeContext) -> None:
        super().__init__(ctx)
        self.keyframes = ctx.keyframes
        self.step_beats = np.asarray(ctx.step_beats, dtype=np.float64)
        self.loop_total = float(self.step_beats.sum())
        self.step_starts = np.concatenate([[0.0], np.cumsum(self.step_beats)[:-1]])
        self.loop_sync = str(ctx.setting("loop_sync"))
        self.loop_hold = float(ctx.setting("loop_hold"))
        self._speed = float(ctx.setting("speed"))
        self._glide_beats = float(ctx.setting("glide_beats"))
        self.reset()

    def reset(self) -> None:
        self.pos = 0.0              # loop position in keyframes (free mode)
        self.beat_offset = 0.0      # beats added to the clock's beat (beat-synced mode)
        self._glide_from: np.ndarray | None = None
        self._glide_to = 0
        self._glide_t = 1.0
        self._loop_pos_now = 0.0    # where the loop stood at the last step (for next/prev)
        self.last_base: np.ndarray = self.keyframes[0].copy()

    @property
    def num_keyframes(self) -> int:
        return len(self.keyframes)

    @property
    def gliding(self) -> bool:
        return self._glide_from is not None

    def _get(self, params: ParamState, name: str, default: float) -> float:
        v = params.values.get(name)
        v = default if v is None else float(v)
        return v if v == v else default

    # -- the tick --------------------------------------------------------------------------------

    def base(self, params: ParamState, dt: float) -> LatentPoint:
        bps = max(float(params.tempo), 1e-6) / 60.0
        speed = self._get(params, "latent/speed", self._speed)
        self._triggers(params)
        self.last_base = self._advance(params, dt, bps, speed)
        return LatentPoint(self.last_base)

    def _triggers(self, params: ParamState) -> None:
        n = self.num_keyframes
        for name, arg in params.triggers:
            if name == "latent/keyframe":
                target = int(round(arg)) % n
            elif name == "latent/keyframe/next":
                target = (self.current_keyframe() + 1) % n
            elif name == "latent/keyframe/prev":
                target = (self.current_keyframe() - 1) % n
            else:
                continue
            self._glide_from = self.last_base.copy()
            self._glide_to = target
            self._glide_t = 0.0

    def current_keyframe(self) -> int:
        """The keyframe being glided to, or the nearest one on the loop."""
        if self._glide_from is not None:
            return self._glide_to
        return int(math.floor(self._loop_pos_now + 0.5)) % self.num_keyframes

    def _loop_pos(self, params: ParamState, dt: float, bps: float, speed: float) -> float:
        """Loop position in keyframes (integer part: the step; fraction: how far along it)."""
        if self.loop_sync == "beat":
            b = (float(params.beat) + self.beat_offset) % self.loop_total
            i = int(np.searchsorted(self.step_starts, b, side="right") - 1)
            i = min(max(i, 0), self.num_keyframes - 1)
            return i + (b - self.step_starts[i]) / self.step_beats[i]
        i = int(math.floor(self.pos)) % self.num_keyframes
        self.pos += dt * bps * speed / self.step_beats[i]
        self.pos %= self.num_keyframes
        return self.pos

    def _set_loop_pos(self, params: ParamState, index: int) -> None:
        if self.loop_sync == "beat":
            self.beat_offset = (self.step_starts[index] - float(params.beat)) % self.loop_total
        else:
            self.pos = float(index)

    def _advance(self, params: ParamState, dt: float, bps: float, speed: float) -> np.ndarray:
        if self._glide_from is not None:
            glide = self._get(params, "latent/glide", self._glide_beats)
            self._glide_t = 1.0 if glide <= 0.0 else min(self._glide_t + dt * bps / glide, 1.0)
            if self._glide_t < 1.0:
                return slerp(self._glide_from, self.keyframes[self._glide_to], _smooth(self._glide_t))
            self._glide_from = None
            self._set_loop_pos(params, self._glide_to)
            self._loop_pos_now = float(self._glide_to)
            return self.keyframes[self._glide_to].copy()
        pos = self._loop_pos(params, dt, bps, speed)
        self._loop_pos_now = pos
        return self.keyframe_blend(pos)

    def keyframe_blend(self, pos: float) -> np.ndarray:
        """z at loop position `pos` (e.g. 2.5: half way from keyframe 2 to keyframe 3)."""
        n = self.num_keyframes
        i = int(math.floor(pos))
        frac = ease_hold(pos - i, self.loop_hold)
        return slerp(self.keyframes[i % n], self.keyframes[(i + 1) % n], frac)

    def carry_from(self, old: TrajectoryMode) -> None:
        """Take over the loop's place (a hot-reloaded patch), so a reload does not jump."""
        if not isinstance(old, KeyframeLoop):
            return
        self.beat_offset = float(old.beat_offset) % self.loop_total
        self.pos = self._loop_pos_now = float(old.pos) % self.num_keyframes
        self.last_base = self.keyframe_blend(self.pos)  # a glide triggered next starts here


def _smooth(t: float) -> float:
    t = min(max(t, 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)
