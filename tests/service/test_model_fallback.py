"""Degrade, never die (issue 17): an unattended show whose model fails to load, or keeps failing
while it plays (an exception every frame, out of memory again and again, a network that hangs),
plays the built-in generator and says so; an attended show keeps the last good picture and
reports, as before.  The failing models are real plugin generators (`python:module:factory`)."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from latentperform.clock import FixedStepClock
from latentperform.config import UserError
from latentperform.engine.installation import ModelFallback, attach_installation
from latentperform.engine.show import load_builtin, open_show
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface
from latentperform.service.state import read_json

ROOT = Path(__file__).resolve().parents[2]

FLAKY = textwrap.dedent('''
    """A small network that renders `ok` pictures, then fails as LP_FLAKY says."""
    import os, threading, torch

    RELEASE = threading.Event()   # a hung network waits on this (the test lets it go at the end)

    class Flaky:
        z_dim, c_dim, w_dim, num_ws, resolution, img_channels = 4, 0, 3, 2, 8, 3

        def __init__(self):
            self.w_avg = torch.zeros(3)
            self.calls = 0
            self.how, _, ok = os.environ.get("LP_FLAKY", "raise:3").partition(":")
            self.ok = int(ok or 3)

        def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
            return z[:, None, :3].expand(-1, 2, -1)

        def synthesis(self, ws, noise_mode="const", transform=None):
            self.calls += 1
            if self.calls > self.ok:
                if self.how == "oom":
                    raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")
                if self.how == "hang":
                    RELEASE.wait(3600)
                raise ValueError("the network broke")
            return torch.tanh(ws[:, :1, :]).reshape(-1, 3, 1, 1).expand(-1, 3, 8, 8).clone()

        def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
            return self.synthesis(self.mapping(z, c))

    def make():
        return Flaky()
''')


@pytest.fixture
def flaky(tmp_path, monkeypatch):
    (tmp_path / "lp_flaky_net.py").write_text(FLAKY)
    monkeypatch.syspath_prepend(str(tmp_path))
    np.save(tmp_path / "z4.npy", np.linspace(-1, 1, 4))  # a keyframe only this model's z fits
    patch = tmp_path / "flaky.toml"
    patch.write_text('[model]\nkind = "python:lp_flaky_net:make"\n'
                     '[[keyframes]]\nfile = "z4.npy"\n[[keyframes]]\nseed = 7\n[[keyframes]]\nseed = 9\n'
                     '[output]\nsize = [48, 32]\nshaders = []\n')
    return patch


def _show(patch_path, *, fps=10, offline=True):
    patch = load_patch(patch_path)
    return open_show(patch, surface=HeadlessSurface((48, 32)), clock=FixedStepClock(fps), fps=fps,
                     offline=offline, stage=False)


def _fallback(engine, **kw):
    return engine.add_part(ModelFallback(lambda: load_builtin(engine.patch, engine.surface.size), **kw))


@pytest.mark.parametrize("how, says", [("raise", "ValueError: the network broke"),
                                       ("oom", "out of GPU memory")])
def test_a_model_that_keeps_failing_gives_way_to_the_built_in_one(flaky, monkeypatch, how, says):
    monkeypatch.setenv("LP_FLAKY", f"{how}:3")
    eng = _show(flaky)
    try:
        part = _fallback(eng)
        assert eng.generator.z_dim == 4
        pictures = []
        for _ in range(140):  # 14 s of show time at 10 fps
            pictures.append(eng.step().copy())
        # three good pictures, then failures: the last good picture held, then the built-in one
        assert isinstance(eng.generator, BuiltinGenerator)
        assert part.swapped and says in part.swapped
        assert any("playing the built-in generator instead" in e and says in e for e in eng.stats.errors)
        assert any("playing the built-in generator" in n for n in eng.notices())
        # the patch's saved z (4 numbers) cannot follow: the trajectory keeps its seeds, and says so
        assert any("seeds only" in e for e in eng.stats.errors)
        assert eng.space.z_dim == eng.generator.z_dim
        # it swapped after ~10 s of failures (not at the first one), and the show went on moving
        swap_at = next(i for i, e in enumerate(eng.stats.errors) if "built-in generator instead" in e)
        held = pictures[5:90]
        assert all(np.array_equal(held[0], p) for p in held), "the last good picture is held meanwhile"
        tail = pictures[-20:]
        assert not all(np.array_equal(tail[0], p) for p in tail), "the built-in generator's pictures move"
        assert not np.array_equal(tail[-1], held[0])
        assert swap_at >= 1 and eng.ticker.model_failures == 0
    finally:
        eng.close()
        eng.surface.close()


def test_an_attended_show_keeps_the_last_good_picture(flaky, monkeypatch):
    """Nobody asked for installation mode: no fallback part, the performer sees the failure."""
    monkeypatch.setenv("LP_FLAKY", "raise:3")
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("LP_SERVICE_NAME", raising=False)
    eng = _show(flaky)
    try:
        attach_installation(eng, load_builtin=lambda: load_builtin(eng.patch, eng.surface.size))
        assert not [p for p in eng.parts if isinstance(p, ModelFallback)]
        pictures = [eng.step().copy() for _ in range(140)]
        assert eng.generator.z_dim == 4 and eng.ticker.model_failures > 100
        assert all(np.array_equal(pictures[10], p) for p in pictures[10:])
        assert any("ValueError: the network broke" in e for e in eng.stats.errors)
    finally:
        eng.close()
        eng.surface.close()


def test_an_unattended_show_gets_the_fallback_part_unless_the_patch_says_no(flaky, tmp_path, monkeypatch):
    monkeypatch.setenv("LP_SERVICE_NAME", "flaky")
    monkeypatch.setenv("LP_STATE_DIR", str(tmp_path / "state"))
    no = tmp_path / "no.toml"
    no.write_text(flaky.read_text() + "[installation]\nfallback = false\n")
    for path, wanted in [(flaky, True), (no, False)]:
        eng = _show(path)
        try:
            attach_installation(eng, load_builtin=lambda: load_builtin(eng.patch, eng.surface.size))
            assert bool([p for p in eng.parts if isinstance(p, ModelFallback)]) is wanted
        finally:
            eng.close()
            eng.surface.close()


def test_a_hung_model_gives_way_too(flaky, monkeypatch):
    """A network that never returns (a hung driver inside the worker's thread): live, the render
    loop goes on presenting the last good picture; after `stuck_s` without a picture the
    built-in generator plays.  (The old thread stays behind, a daemon.)"""
    monkeypatch.setenv("LP_FLAKY", "hang:3")
    eng = _show(flaky, offline=False)
    try:
        part = _fallback(eng, stuck_s=1.0, first_s=30.0)
        import time
        end = time.monotonic() + 20
        while not part.swapped and time.monotonic() < end:
            eng.step()
            time.sleep(0.02)
        assert part.swapped and "no picture from the model" in part.swapped
        assert isinstance(eng.generator, BuiltinGenerator)
        before = eng.ticker.model_pictures
        end = time.monotonic() + 20
        while eng.ticker.model_pictures < before + 5 and time.monotonic() < end:
            eng.step()
            time.sleep(0.02)
        assert eng.ticker.model_pictures >= before + 5, "the built-in generator renders"
    finally:
        sys.modules["lp_flaky_net"].RELEASE.set()   # else the hung thread outlives the test
        eng.close()
        eng.surface.close()


def test_a_model_that_fails_to_load_plays_the_built_in_one_when_unattended(tmp_path, monkeypatch):
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"\x80\x04 this is not a network" * 10)
    patch = tmp_path / "broken.toml"
    patch.write_text(f'[model]\nkind = "{broken}"\n[output]\nsize = [48, 32]\nshaders = []\n')
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    monkeypatch.delenv("LP_SERVICE_NAME", raising=False)
    with pytest.raises(Exception) as attended:   # attended: the user's error, at once
        _show(patch)
    assert "broken.pkl" in str(attended.value) or isinstance(attended.value, UserError)
    monkeypatch.setenv("LP_SERVICE_NAME", "broken")
    eng = _show(patch)
    try:
        assert isinstance(eng.generator, BuiltinGenerator)
        assert any("playing the built-in generator instead" in e for e in eng.stats.errors)
        a, b = eng.step().copy(), None
        for _ in range(20):
            b = eng.step()
        assert a.std() > 0 and not np.array_equal(a, b)
    finally:
        eng.close()
        eng.surface.close()


def test_the_real_command_falls_back_and_its_state_file_says_so(tmp_path):
    """`latentperform run` as the service manager starts it (LP_SERVICE_NAME set): a broken model
    file, the show plays for its seconds on the built-in generator, and `status`'s state file
    names the generator and the error."""
    broken = tmp_path / "broken.pkl"
    broken.write_bytes(b"PK\x03\x04 truncated")
    patch = tmp_path / "show.toml"
    patch.write_text(f'[model]\nkind = "{broken}"\n[output]\nsize = [64, 48]\n')
    env = {**os.environ, "LP_SERVICE_NAME": "fallback-test", "LP_STATE_DIR": str(tmp_path / "state"),
           "PYTHONPATH": str(ROOT)}
    env.pop("NOTIFY_SOCKET", None)
    r = subprocess.run([sys.executable, "-m", "latentperform.cli", "run", str(patch), "--headless",
                        "--seconds", "3", "--no-audio", "--no-watch", "--osc-port", "0", "--fps", "15"],
                       capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "playing the built-in generator instead" in r.stderr
    state = read_json(tmp_path / "state" / "fallback-test.json")
    assert state["generator"] == "BuiltinGenerator" and state["frames"] > 10
    assert any("built-in generator" in e for e in state["last_errors"])
