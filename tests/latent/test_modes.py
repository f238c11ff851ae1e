"""Every registered trajectory mode passes the shared contract (mode_contract.py)."""

from __future__ import annotations

import pytest

from latentperform.config import UserError
from latentperform.latent import LatentSpace, Trajectory
from latentperform.latent.modes import MODES

from tests.latent.mode_contract import ModeContract


class TestKeyframes(ModeContract):
    mode = "keyframes"


CONTRACTS = {cls.mode for cls in ModeContract.__subclasses__()}


def test_every_registered_mode_has_a_contract_class():
    assert set(MODES) == CONTRACTS, f"add a ModeContract subclass here for {sorted(set(MODES) - CONTRACTS)}"


def test_an_unknown_mode_is_a_clear_error():
    with pytest.raises(UserError, match=r"unknown trajectory mode 'spiral' \(known: keyframes"):
        Trajectory({"mode": "spiral"}, [1, 2], LatentSpace(8, 8, 4))


def test_the_patch_names_the_mode():
    from latentperform.patch import parse_patch
    patch = parse_patch('[model]\nkind = "builtin"\n[trajectory]\nmode = "keyframes"\n')
    assert patch.trajectory.mode == "keyframes"
