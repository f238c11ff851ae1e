"""The trajectory: a stepper that turns the parameter state into a point in latent space.

    Trajectory(settings, keyframes, space, directions, seed).step(params, dt) -> LatentRequest

It knows nothing about the model beyond its latent sizes.  Per tick:

    base z   the keyframe loop (slerp between neighbours; a step lasts loop_beats beats at
             latent/speed 1, or follows the beat grid with loop_sync = "beat"), or a glide to a
             keyframe that was triggered (latent/keyframe <i>, /next, /prev over latent/glide beats)
    chroma   slerp toward the chroma blend of the keyframes (latent/chroma): pitch class k
             (latent/chroma/<k>, fed by audio/chroma/<k>) weighs keyframe k mod n
    xy       slerp toward a point of the XY pad: bilinear slerp over a grid of seeds
    walk     smooth noise: three slow sinusoids per z dimension, norm kept
    w_offset Σ latent/direction/<k> · direction_k · direction_scale
             + (latent/pulse + decaying latent/pulse/hit) · direction[pulse_direction] · pulse_strength
    psi      latent/truncation; style mix toward a second latent on mix_layers; rotate/translate
    mode     `[trajectory] mode` picks the base point's mode (latent/modes/): the keyframe loop
             above by default; "atlas" (implied by `[trajectory] atlas = "NAME.atlas"`) gives W
             directly from a place on the atlas map; the directions and pulses still add to it

Everything moves continuously unless a parameter itself jumps.  The state (loop position, glide,
walk phase, hit envelope) changes only in `step`, so the same sequence of (params, dt) gives the
same requests, frame for frame: offline renders repeat exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..config import UserError
from ..events import LatentRequest, ParamSpec, ParamState
from .interp import slerp
from .keyframes import keyframe_z, random_directions, z_from_seed
from .modes import ModeContext, make_mode

# [trajectory] keys and their defaults: the one home of these numbers (the patch leaves unset
# keys as None).
DEFAULTS: dict[str, Any] = {
    "mode": "keyframes",
    "loop_beats": 16.0,
    "loop_sync": "free",
    "loop_hold": 0.0,
    "glide_beats": 2.0,
    "speed": 1.0,
    "walk": 0.0,
    "walk_rate": 0.1,
    "xy_grid": (2, 2),
    "xy_seeds": None,
    "xy_amount": 0.0,
    "directions": 8,
    "direction_scale": 3.0,
    "pulse_direction": 0,
    "pulse_strength": 3.0,
    "pulse_release": 0.3,
    "truncation": 1.0,
    "mix_layers": None,
    "mix_keyframe": None,
    "mix_seed": None,
    "atlas": None,          # the atlas file (the show reads it: engine/reload.make_trajectory)
    "atlas_glide": None,    # seconds the map position follows the pad (None: the mode's default)
}

_WALK_HARMONICS = np.array([1.0, 2.13, 3.71])  # incommensurate: the walk never visibly repeats
PITCH_CLASSES = 12
CHROMA_SMOOTH_S = 0.15   # one-pole smoothing of the chroma weights (chroma flickers frame to frame)
CHROMA_SHARPNESS = 2.0   # weights are raised to this power: the strongest pitch classes dominate


@dataclass(frozen=True)
class LatentSpace:
    """The sizes of a generator's latent spaces: all a trajectory knows of the model."""

    z_dim: int
    w_dim: int
    num_ws: int


def _setting(settings: Any, name: str) -> Any:
    if settings is None:
        value = None
    elif isinstance(settings, dict):
        value = settings.get(name)
    else:
        value = getattr(settings, name, None)
    return DEFAULTS[name] if value is None else value


class Trajectory:
    """See the module docstring.

    settings    the patch's [trajectory] (an object or a dict; None/missing keys take DEFAULTS)
    keyframes   the patch's [[keyframes]] (objects with seed or file), int seeds or z arrays;
                empty: four keyframes drawn from `seed`
    space       LatentSpace(z_dim, w_dim, num_ws)
    directions  (k, w_dim) semantic directions, or None for a deterministic random orthonormal set
    seed        the patch's model seed: fallback keyframes, XY grid, walk, random directions
    cutoff      truncation cutoff passed through to the request ([model] truncation_cutoff)
    data        extra arrays for the mode (modes/base.py: ModeContext.data), by name

    The base point comes from the mode (`[trajectory] mode`, registered in latent/modes/); the
    layers below (chroma, XY, walk, directions, pulses, mix, truncation, transform) are shared.
    """

    def __init__(self, settings: Any, keyframes: Sequence[Any], space: LatentSpace,
                 directions: np.ndarray | None = None, seed: int = 0, cutoff: int | None = None,
                 data: dict | None = None) -> None:
        self.space = space
        self.seed = int(seed)
        self.cutoff = cutoff
        z_dim, w_dim, num_ws = int(space.z_dim), int(space.w_dim), int(space.num_ws)
        get = lambda name: _setting(settings, name)  # noqa: E731

        keyframes = list(keyframes or [])
        if not keyframes:
            keyframes = [self.seed + i for i in range(4)]
        self.keyframes = np.stack([keyframe_z(k, z_dim) for k in keyframes])  # (N, z_dim) float64
        self.keyframe_names = [getattr(k, "name", "") or "" for k in keyframes]
        loop_beats = float(get("loop_beats"))
        self.step_beats = np.array([float(getattr(k, "beats", None) or loop_beats) for k in keyframes])
        self.mode = make_mode(str(get("mode")), ModeContext(setting=get, keyframes=self.keyframes,
                                                             step_beats=self.step_beats, space=space,
                                                             seed=self.seed, data=dict(data or {})))

        cols, rows = (int(v) for v in get("xy_grid"))
        xy_seeds = get("xy_seeds")
        if xy_seeds is None:
            xy_seeds = [self.seed + 101 + i for i in range(cols * rows)]
        if len(xy_seeds) != cols * rows:
            raise UserError(f"xy_seeds: expected {cols * rows} seeds for a {cols}x{rows} grid, got {len(xy_seeds)}")
        self.xy_grid = (cols, rows)
        self.xy_seeds = tuple(int(s) for s in xy_seeds)
        self.xy_z = np.stack([z_from_seed(s, z_dim) for s in self.xy_seeds]).reshape(rows, cols, z_dim)

        if directions is None:
            directions = random_directions(int(get("directions")), w_dim, self.seed)
        directions = np.asarray(directions, dtype=np.float64)
        if directions.ndim != 2 or directions.shape[1] != w_dim or len(directions) == 0:
            raise UserError(f"directions: expected an array of shape (k, {w_dim}), got {directions.shape}")
        if not np.all(np.isfinite(directions)):
            raise UserError("directions contain NaN or infinity")
        self.directions = directions
        self.direction_scale = float(get("direction_scale"))
        self.pulse_direction = int(get("pulse_direction"))
        if not 0 <= self.pulse_direction < len(directions):
            raise UserError(f"pulse_direction {self.pulse_direction}: this model has "
                            f"{len(directions)} directions (0..{len(directions) - 1})")
        self.pulse_strength = float(get("pulse_strength"))
        self.pulse_release = float(get("pulse_release"))

        mix_layers = get("mix_layers") or (num_ws // 2, num_ws)
        lo, hi = (min(max(int(v), 0), num_ws) for v in mix_layers)
        self.mix_layers = (lo, max(hi, lo))
        mix_keyframe, mix_seed = get("mix_keyframe"), get("mix_seed")
        if mix_keyframe is not None:
            if not 0 <= int(mix_keyframe) < len(self.keyframes):
                raise UserError(f"mix_keyframe {mix_keyframe}: there are {len(self.keyframes)} keyframes")
            self.mix_z = self.keyframes[int(mix_keyframe)].copy()
        else:
            self.mix_z = z_from_seed(self.seed + 1000 if mix_seed is None else int(mix_seed), z_dim)

        wrng = np.random.default_rng([self.seed, 0x3A1C])
        self.walk_freq = (0.5 + wrng.random((3, z_dim))) * _WALK_HARMONICS[:, None]  # (3, z_dim)
        self.walk_phase0 = wrng.random((3, z_dim)) * 2.0 * math.pi

        self._defaults = {
            "latent/speed": float(get("speed")), "latent/walk": float(get("walk")),
            "latent/walk/rate": float(get("walk_rate")), "latent/glide": float(get("glide_beats")),
            "latent/truncation": float(get("truncation")), "latent/xy/amount": float(get("xy_amount")),
        }
        self.reset()

    # -- state ---------------------------------------------------------------------------------

    def reset(self) -> None:
        """Back to the first keyframe, at rest."""
        if hasattr(self.mode, "reset"):
            self.mode.reset()
        self.walk_time = 0.0        # walk phase, seconds at speed 1
        self.hit = 0.0              # latent/pulse/hit envelope
        self.chroma = np.zeros(PITCH_CLASSES)   # smoothed chroma weights

    @property
    def num_keyframes(self) -> int:
        return len(self.keyframes)

    @property
    def gliding(self) -> bool:
        return bool(getattr(self.mode, "gliding", False))

    @property
    def pos(self) -> float:
        """The keyframe loop's position (mode "keyframes"; 0 for other modes)."""
        return float(getattr(self.mode, "pos", 0.0))

    # -- parameters ----------------------------------------------------------------------------

    def param_specs(self) -> list[ParamSpec]:
        d = self._defaults
        n = self.num_keyframes
        specs = [
            ParamSpec("latent/speed", d["latent/speed"], -4.0, 8.0,
                      "how fast the keyframe loop and the walk move (1 = loop_beats per step; 0 = still)",
                      osc="/lp/speed"),
            ParamSpec("latent/walk", d["latent/walk"], 0.0, 2.0,
                      "amount of smooth noise wandering on top of the loop", osc="/lp/walk"),
            ParamSpec("latent/walk/rate", d["latent/walk/rate"], 0.0, 10.0,
                      "walk rate, cycles per second at speed 1", osc="/lp/walk/rate"),
            ParamSpec("latent/pulse", 0.0, 0.0, 1.0,
                      "push along the pulse direction (map onsets here with a release)", osc="/lp/pulse"),
            ParamSpec("latent/pulse/hit", 1.0, 0.0, 4.0,
                      "a pulse that fades by itself over pulse_release seconds (arg: strength, default 1)",
                      kind="trigger", osc="/lp/pulse/hit", args="f"),
            ParamSpec("latent/keyframe", 0.0, 0.0, float(max(n - 1, 0)),
                      f"glide to keyframe <i> (0..{n - 1}) over latent/glide beats",
                      kind="trigger", osc="/lp/keyframe", args="i"),
            ParamSpec("latent/keyframe/next", 0.0, 0.0, 1.0, "glide to the next keyframe",
                      kind="trigger", osc="/lp/keyframe/next", args=""),
            ParamSpec("latent/keyframe/prev", 0.0, 0.0, 1.0, "glide to the previous keyframe",
                      kind="trigger", osc="/lp/keyframe/prev", args=""),
            ParamSpec("latent/glide", d["latent/glide"], 0.0, 64.0,
                      "beats a keyframe trigger takes to glide there (0 = cut)", osc="/lp/glide"),
            ParamSpec("latent/truncation", d["latent/truncation"], 0.0, 2.0,
                      "truncation psi: 0 = the average picture, 1 = the full variety", osc="/lp/truncation"),
            ParamSpec("latent/chroma", 0.0, 0.0, 1.0,
                      "chroma -> keyframes: how far the harmony pulls the picture toward the keyframes "
                      "of its pitch classes (pitch class k -> keyframe k mod n; 0 = off)", osc="/lp/chroma"),
            *[ParamSpec(f"latent/chroma/{k}", 0.0, 0.0, 1.0,
                        f"weight of pitch class {k} (C = 0) in the chroma blend; a show with sound "
                        f"input feeds it from audio/chroma/{k}", osc=f"/lp/chroma/{k}")
              for k in range(PITCH_CLASSES)],
            ParamSpec("latent/xy", 0.0, 0.0, 1.0,
                      "XY pad: two arguments set latent/xy/x and latent/xy/y at once",
                      osc="/lp/xy", args="ff"),
            ParamSpec("latent/xy/x", 0.5, 0.0, 1.0, "XY pad position, left (0) to right (1)", osc="/lp/xy/x"),
            ParamSpec("latent/xy/y", 0.5, 0.0, 1.0, "XY pad position, top (0) to bottom (1)", osc="/lp/xy/y"),
            ParamSpec("latent/xy/amount", d["latent/xy/amount"], 0.0, 1.0,
                      "how far the XY pad's point pulls the picture (0 = off, 1 = all the way)",
                      osc="/lp/xy/amount"),
            ParamSpec("latent/mix/amount", 0.0, 0.0, 1.0,
                      f"style mix: layers {self.mix_layers[0]}..{self.mix_layers[1] - 1} toward a second latent",
                      osc="/lp/mix"),
            ParamSpec("latent/rotate", 0.0, -180.0, 180.0, "rotate the picture, degrees counter-clockwise",
                      osc="/lp/rotate"),
            ParamSpec("latent/translate/x", 0.0, -1.0, 1.0, "move the picture right, in picture heights",
                      osc="/lp/translate/x"),
            ParamSpec("latent/translate/y", 0.0, -1.0, 1.0, "move the picture down, in picture heights",
                      osc="/lp/translate/y"),
        ]
        for k in range(len(self.directions)):
            specs.append(ParamSpec(f"latent/direction/{k}", 0.0, -1.0, 1.0,
                                   f"move along direction {k} of W (1 = direction_scale)",
                                   osc=f"/lp/direction/{k}"))
        specs += list(self.mode.param_specs())
        return specs

    def _get(self, params: ParamState, name: str, default: float = 0.0) -> float:
        v = params.values.get(name)
        if v is None:
            return self._defaults.get(name, default)
        v = float(v)
        return v if v == v else self._defaults.get(name, default)

    # -- stepping ------------------------------------------------------------------------------

    def step(self, params: ParamState, dt: float) -> LatentRequest:
        dt = max(float(dt), 0.0)
        speed = self._get(params, "latent/speed")
        point = self.mode.base(params, dt)

        z = point.z
        self._smooth_chroma(params, dt)
        chroma = min(max(self._get(params, "latent/chroma"), 0.0), 1.0)
        if chroma > 0.0:
            target = self.chroma_point(self.chroma)
            if target is not None:
                z = slerp(z, target, chroma)
        xy_amount = self._get(params, "latent/xy/amount")
        if xy_amount > 0.0:
            x = min(max(self._get(params, "latent/xy/x", 0.5), 0.0), 1.0)
            y = min(max(self._get(params, "latent/xy/y", 0.5), 0.0), 1.0)
            z = slerp(z, self.xy_point(x, y), min(xy_amount, 1.0))

        self.walk_time += dt * speed * self._get(params, "latent/walk/rate")
        walk = self._get(params, "latent/walk")
        if walk > 0.0:
            z = self._walked(z, walk)

        w_offset = self._w_offset(params, dt)
        mix = min(max(self._get(params, "latent/mix/amount"), 0.0), 1.0)
        ws = None if point.ws is None else np.asarray(point.ws, dtype=np.float32)  # a mode that gives W directly
        return LatentRequest(
            ws=ws,
            z=z.astype(np.float32),
            time=float(params.time),
            stamp=params.newest_input,
            w_offset=w_offset,
            psi=self._get(params, "latent/truncation"),
            cutoff=self.cutoff,
            mix_z=self.mix_z.astype(np.float32) if mix > 0.0 else None,
            mix_layers=self.mix_layers,
            mix_amount=mix,
            transform=self._transform(params),
        )

    def current_keyframe(self) -> int:
        """The keyframe being glided to, or the nearest one on the loop (the mode's)."""
        return self.mode.current_keyframe()

    def carry_from(self, old: "Trajectory") -> None:
        """Take over the loop's place, walk phase and pulse of the trajectory this one replaces
        (a hot-reloaded patch), so a reload does not jump the picture."""
        self.walk_time, self.hit = old.walk_time, old.hit
        self.mode.carry_from(old.mode)

    def _smooth_chroma(self, params: ParamState, dt: float) -> None:
        w = np.array([self._get(params, f"latent/chroma/{k}") for k in range(PITCH_CLASSES)])
        w = np.clip(np.nan_to_num(w, nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
        a = 1.0 - math.exp(-dt / CHROMA_SMOOTH_S) if dt > 0.0 else 0.0
        if not np.any(self.chroma) and dt > 0.0:
            a = 1.0   # the first weights are taken as they are (no fade in from silence)
        self.chroma += (w - self.chroma) * a

    def chroma_point(self, weights) -> np.ndarray | None:
        """The keyframes blended by pitch-class weights (12 values, C first): pitch class k
        weighs keyframe k mod n; the weights are sharpened (CHROMA_SHARPNESS) and normalised, and
        the blend keeps the keyframes' typical length.  None when every weight is 0."""
        w = np.clip(np.asarray(weights, dtype=np.float64).reshape(-1)[:PITCH_CLASSES], 0.0, None)
        w = w ** CHROMA_SHARPNESS
        n = self.num_keyframes
        per_key = np.bincount(np.arange(len(w)) % n, weights=w, minlength=n)[:n]
        total = float(per_key.sum())
        if not total > 1e-12:
            return None
        p = per_key / total
        mix = p @ self.keyframes
        length = float(np.linalg.norm(mix))
        if length < 1e-9:   # opposite keyframes cancel out: fall back to the strongest one
            return self.keyframes[int(np.argmax(p))].copy()
        return mix * (float(p @ np.linalg.norm(self.keyframes, axis=1)) / length)

    def xy_point(self, x: float, y: float) -> np.ndarray:
        """Bilinear slerp over the XY grid: (0, 0) is the first seed, (1, 1) the last."""
        cols, rows = self.xy_grid
        gx, gy = x * (cols - 1), y * (rows - 1)
        i, j = min(int(gx), cols - 2), min(int(gy), rows - 2)
        fx, fy = gx - i, gy - j
        top = slerp(self.xy_z[j, i], self.xy_z[j, i + 1], fx)
        bottom = slerp(self.xy_z[j + 1, i], self.xy_z[j + 1, i + 1], fx)
        return slerp(top, bottom, fy)

    def walk_noise(self, t: float) -> np.ndarray:
        """(z_dim,) smooth noise with unit variance per dimension at walk time t."""
        waves = np.sin(2.0 * math.pi * self.walk_freq * t + self.walk_phase0)
        return waves.sum(axis=0) * math.sqrt(2.0 / 3.0)

    def _walked(self, z: np.ndarray, amount: float) -> np.ndarray:
        moved = z + amount * self.walk_noise(self.walk_time)
        n0, n1 = float(np.linalg.norm(z)), float(np.linalg.norm(moved))
        if n0 > 1e-9 and n1 > 1e-9:
            moved *= n0 / n1  # wander over the sphere, not off it
        return moved

    def _w_offset(self, params: ParamState, dt: float) -> np.ndarray | None:
        if self.hit > 0.0:
            self.hit *= math.exp(-dt / self.pulse_release) if self.pulse_release > 0 else 0.0
            if self.hit < 1e-4:
                self.hit = 0.0
        # hits fired this tick show at full strength on this tick: decay first, then add
        for arg in params.fired("latent/pulse/hit"):
            self.hit = max(self.hit, arg if arg > 0.0 else 1.0)
        amounts = np.array([self._get(params, f"latent/direction/{k}") for k in range(len(self.directions))])
        pulse = self._get(params, "latent/pulse") + self.hit
        if not np.any(amounts) and pulse == 0.0:
            return None
        off = (amounts * self.direction_scale) @ self.directions
        off = off + pulse * self.pulse_strength * self.directions[self.pulse_direction]
        return off.astype(np.float32)

    def _transform(self, params: ParamState) -> np.ndarray | None:
        angle = self._get(params, "latent/rotate")
        tx = self._get(params, "latent/translate/x")
        ty = self._get(params, "latent/translate/y")
        if angle == 0.0 and tx == 0.0 and ty == 0.0:
            return None
        a = math.radians(angle)
        c, s = math.cos(a), math.sin(a)
        # The motion the user asks for (the Generator protocol's `transform`, StyleGAN3's
        # transform_user): turn by `angle` counter-clockwise on screen, move by (tx, ty) in
        # picture heights.  Turning it into where each pixel samples is the generator's job.
        return np.array([[c, s, tx],
                         [-s, c, ty],
                         [0.0, 0.0, 1.0]], dtype=np.float32)

