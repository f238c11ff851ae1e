"""Which way the picture moves when a performer turns `latent/translate/x` or `latent/rotate`:
trajectory -> LatentRequest.transform -> InferenceWorker -> generator, for every generator kind.

docs/osc.md promises: translate/x > 0 moves the picture right, rotate > 0 turns it
counter-clockwise.  Issue 5 defines `synthesis(..., transform=M)` as the motion applied to the
picture, M = stylegan3.rotate_translate(angle, tx, ty): the trajectory sends that matrix, the
StyleGAN generators feed their input layer its inverse, and the built-in generator samples
through its inverse.  (These were strict xfails until the trajectory and the built-in generator
agreed on that convention.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latentperform.events import ParamState
from latentperform.latent import LatentSpace, Trajectory
from latentperform.models import InferenceWorker
from latentperform.models.loader import load_generator

FIXTURES = Path(__file__).resolve().parents[2].parent / "shared/fixtures/stylegan"
def kinds(*names: str) -> list:
    specs = {"builtin": "builtin:64", "stylegan2": FIXTURES / "sg2ada-skip-64.pkl",
             "stylegan3-r": FIXTURES / "sg3-r-64.pkl"}
    return [pytest.param(specs[name], id=name) for name in (names or specs)]


needs_fixtures = pytest.mark.skipif(not (FIXTURES / "index.json").is_file(),
                                    reason=f"StyleGAN fixtures not found at {FIXTURES}")


def render(G, **values) -> np.ndarray:
    """One frame of seed 5 through the trajectory and the worker, with these parameter values."""
    space = LatentSpace(z_dim=G.z_dim, w_dim=G.w_dim, num_ws=G.num_ws)
    tr = Trajectory({}, [5], space, None, seed=0)
    params = {s.name: s.default for s in tr.param_specs() if s.kind != "trigger"}
    params.update(values)
    request = tr.step(ParamState(values=params, tempo=120.0), 0.0)
    frame = InferenceWorker(G).render_now(request)
    assert frame.ok, frame.error
    return frame.pixels.astype(float).mean(axis=2)  # (H, W) grey


def best_shift(a: np.ndarray, b: np.ndarray, limit: int = 12) -> int:
    """dx (pixels) for which b[:, x] best matches a[:, x - dx]."""
    errors = {}
    for dx in range(-limit, limit + 1):
        if dx >= 0:
            errors[dx] = np.mean((b[:, dx:] - a[:, :a.shape[1] - dx]) ** 2)
        else:
            errors[dx] = np.mean((b[:, :dx] - a[:, -dx:]) ** 2)
    return min(errors, key=errors.get)


def turn_error(a: np.ndarray, b: np.ndarray, k: int) -> float:
    """How far b is from a turned by k quarter turns counter-clockwise (centre only)."""
    c = slice(10, -10)
    return float(np.abs(b[c, c] - np.rot90(a, k)[c, c]).mean())


@needs_fixtures
@pytest.mark.parametrize("spec", kinds())
def test_translate_x_moves_the_picture_right(spec):
    G = load_generator(spec)
    plain = render(G)
    moved = render(G, **{"latent/translate/x": 0.125})  # 1/8 of the height: 8 px at 64 px
    assert best_shift(plain, moved) == 8


@needs_fixtures
@pytest.mark.parametrize("spec", kinds())
def test_rotate_turns_the_picture_counter_clockwise(spec):
    G = load_generator(spec)
    plain = render(G)
    turned = render(G, **{"latent/rotate": 90.0})
    # np.rot90(k=1) is a counter-clockwise quarter turn of a picture stored top row first
    assert turn_error(plain, turned, 1) < 0.5 * turn_error(plain, turned, 3)


def test_worker_passes_the_motion_matrix_unchanged():
    """The worker does not invert: what the trajectory sends is what synthesis gets."""
    G = load_generator("builtin:32")
    m = torch.tensor([[1.0, 0.0, 0.25], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])
    seen = []
    real = G.synthesis

    def spy(ws, noise_mode="const", transform=None, **kw):
        seen.append(transform)
        return real(ws, noise_mode, transform, **kw)

    G.synthesis = spy
    space = LatentSpace(z_dim=G.z_dim, w_dim=G.w_dim, num_ws=G.num_ws)
    tr = Trajectory({}, [5], space, None, seed=0)
    request = tr.step(ParamState(values={s.name: s.default for s in tr.param_specs()
                                         if s.kind != "trigger"}, tempo=120.0), 0.0)
    from dataclasses import replace
    InferenceWorker(G).render_now(replace(request, transform=m.numpy()))
    np.testing.assert_array_equal(seen[-1].cpu().numpy(), m.numpy())
