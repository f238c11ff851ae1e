"""Interpolation on the sphere, and the easing curves the trajectory uses.

Gaussian latents live near a sphere of radius sqrt(z_dim); a straight line between two of them
dips toward the origin (a washed-out, average picture half way).  `slerp` moves along the great
circle instead, and blends the norms linearly, so the norm stays near the endpoints' all the way.
"""

from __future__ import annotations

import numpy as np

_EPS = 1e-12


def slerp(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    """Spherical interpolation from a (t=0) to b (t=1), exact at both ends, NaN-free for any input:
    zero vectors and (anti)parallel pairs fall back to a linear blend."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    t = float(t)
    if t <= 0.0:
        return a.copy()
    if t >= 1.0:
        return b.copy()
    na = float(np.linalg.norm(a))
    nb = float(np.linalg.norm(b))
    if na < _EPS or nb < _EPS:
        return (1.0 - t) * a + t * b
    ua, ub = a / na, b / nb
    cos = float(np.clip(np.dot(ua.ravel(), ub.ravel()), -1.0, 1.0))
    omega = float(np.arccos(cos))
    sin = float(np.sin(omega))
    norm = (1.0 - t) * na + t * nb
    if sin < 1e-6:
        # (anti)parallel: the great circle is undefined; a linear blend is the honest answer
        out = (1.0 - t) * a + t * b
        return out
    u = (np.sin((1.0 - t) * omega) / sin) * ua + (np.sin(t * omega) / sin) * ub
    return u * norm


def smoothstep(t: float) -> float:
    t = min(max(float(t), 0.0), 1.0)
    return t * t * (3.0 - 2.0 * t)


def ease_hold(frac: float, hold: float) -> float:
    """Position within one loop step: rest on the keyframe for `hold` of the step, then move
    (eased in and out).  hold = 0: constant speed, no easing."""
    if hold <= 0.0:
        return frac
    if frac <= hold:
        return 0.0
    return smoothstep((frac - hold) / (1.0 - hold))
