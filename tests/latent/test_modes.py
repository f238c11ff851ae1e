"""Every registered trajectory mode passes the shared contract (mode_contract.py)."""

from __future__ import annotations

import numpy as np
import pytest

from latentperform.config import UserError
from latentperform.events import ParamState
from latentperform.latent import LatentSpace, Trajectory
from latentperform.latent.modes import MODES

from tests.latent.mode_contract import SPACE, ModeContract


class TestKeyframes(ModeContract):
    mode = "keyframes"


def _atlas_data(n: int = 200, w_dim: int = 8) -> dict:
    """A small map: four regions in the corners, W a smooth function of the place."""
    rng = np.random.default_rng(5)
    xy = rng.random((n, 2))
    labels = (xy[:, 0] > 0.5).astype(np.int64) + 2 * (xy[:, 1] > 0.5)
    basis = rng.standard_normal((3, w_dim))
    w = (np.c_[xy, xy[:, 0] * xy[:, 1]] @ basis * 3.0).astype(np.float32)
    centres = np.array([[0.25, 0.25], [0.75, 0.25], [0.25, 0.75], [0.75, 0.75]])
    return {"xy": xy, "w": w, "labels": labels, "centres": centres, "names": list("abcd"), "source": "t.atlas"}


class TestAtlas(ModeContract):
    mode = "atlas"

    def make_data(self) -> dict:
        return {"atlas": _atlas_data(w_dim=SPACE.w_dim)}

    def test_the_map_gives_w_and_moving_on_it_moves_w_continuously(self):
        tr = self.make(atlas_glide=0.0)
        values = {s.name: s.default for s in tr.param_specs() if s.kind != "trigger"}
        ws = []
        for k in range(101):   # a straight line across the map, left to right
            values = {**values, "atlas/x": k / 100, "atlas/y": 0.4}
            ws.append(tr.step(ParamState(values=values, tempo=120.0, beat=k / 10, time=k / 20), 1 / 20).ws)
        ws = np.stack(ws)
        assert ws.shape == (101, SPACE.num_ws, SPACE.w_dim)
        steps = np.linalg.norm(np.diff(ws[:, 0], axis=0), axis=1)
        assert steps.min() > 0 and steps.max() < 0.1 * np.linalg.norm(ws[-1, 0] - ws[0, 0])

    def test_an_atlas_mode_without_an_atlas_is_a_clear_error(self):
        with pytest.raises(UserError, match='mode "atlas" needs an atlas'):
            Trajectory({"mode": "atlas"}, [1, 2], SPACE)


CONTRACTS = {cls.mode for cls in ModeContract.__subclasses__()}


def test_every_registered_mode_has_a_contract_class():
    assert set(MODES) == CONTRACTS, f"add a ModeContract subclass here for {sorted(set(MODES) - CONTRACTS)}"


def test_an_unknown_mode_is_a_clear_error():
    with pytest.raises(UserError, match=r"unknown trajectory mode 'spiral' \(known: atlas, keyframes\)"):
        Trajectory({"mode": "spiral"}, [1, 2], LatentSpace(8, 8, 4))


def test_the_patch_names_the_mode():
    from latentperform.patch import parse_patch
    patch = parse_patch('[model]\nkind = "builtin"\n[trajectory]\nmode = "keyframes"\n')
    assert patch.trajectory.mode == "keyframes"
