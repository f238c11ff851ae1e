"""A generator may do anything (issue 12, item 7): raise, call sys.exit, escape with a
BaseException, hang, return NaN, the wrong shape or not a tensor at all.  The worker survives
(or restarts its thread), says what happened in one line, and keeps the last good picture; a
hung generator at exit does not abort the process."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from latentperform.events import LatentRequest
from latentperform.models import InferenceWorker
from latentperform.models.plugin import load_plugin
from latentperform.models.base import ModelError

ROOT = Path(__file__).resolve().parents[2]


class Escape(BaseException):
    """Not an Exception: what a plugin's KeyboardInterrupt or GeneratorExit looks like."""


class Hostile:
    z_dim, c_dim, w_dim, num_ws, resolution, img_channels = 4, 0, 3, 2, 8, 3

    def __init__(self):
        self.w_avg = torch.zeros(3)
        self.behaviour = "ok"
        self.gate = threading.Event()

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        return z[:, None, :3].expand(-1, 2, -1)

    def synthesis(self, ws, noise_mode="const", transform=None):
        b = self.behaviour
        if b == "exit":
            sys.exit(3)
        if b == "escape":
            raise Escape("gone")
        if b == "hang":
            self.gate.wait(10)
        if b == "nan":
            return torch.full((1, 3, 6, 8), float("nan"))
        if b == "inf":
            return torch.full((1, 3, 6, 8), float("inf"))
        if b == "size":
            return torch.zeros(1, 3, 12, 16)
        if b == "numpy":
            return np.zeros((1, 3, 6, 8), np.float32)
        if b == "ints":
            return torch.zeros(1, 3, 6, 8, dtype=torch.int64)
        if b == "flat":
            return torch.zeros(3, 6, 8)
        if b == "none":
            return None
        return torch.tanh(ws[:, 0, 0]).reshape(-1, 1, 1, 1).expand(-1, 3, 6, 8).clone()

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c))


def req(seq):
    return LatentRequest(z=np.full(4, 0.1 * seq, np.float32), seq=seq, time=seq * 0.1)


@pytest.mark.parametrize("behaviour, says", [
    ("exit", "sys.exit(3)"), ("nan", "NaN"), ("inf", "NaN or Inf"), ("size", "16x12 pictures, expected 8x6"),
    ("numpy", "ndarray, expected a torch tensor"), ("ints", "torch.int64"), ("flat", "shape (3, 6, 8)"),
    ("none", "NoneType"),
])
def test_a_bad_output_is_one_line_and_the_last_good_picture_stays(behaviour, says):
    G = Hostile()
    with InferenceWorker(G) as w:
        w.submit(req(1))
        good = w.wait(1, timeout=5)
        assert good.ok
        G.behaviour = behaviour
        w.submit(req(2))
        bad = w.wait(2, timeout=5)
        assert not bad.ok and says in bad.error and "\n" not in bad.error, bad.error
        np.testing.assert_array_equal(bad.pixels, good.pixels)
        assert w.last_good is good
        G.behaviour = "ok"
        w.submit(req(3))
        assert w.wait(3, timeout=5).ok  # and it goes on


def test_a_base_exception_restarts_the_thread_and_says_so():
    G = Hostile()
    with InferenceWorker(G) as w:
        w.submit(req(1))
        good = w.wait(1, timeout=5)
        G.behaviour = "escape"
        w.submit(req(2))
        bad = w.wait(2, timeout=5)
        assert "generator thread stopped" in bad.error and "Escape" in bad.error and "restarted" in bad.error
        np.testing.assert_array_equal(bad.pixels, good.pixels)
        assert w.restarts == 1
        G.behaviour = "ok"
        w.submit(req(3))
        again = w.wait(3, timeout=5)
        assert again.ok and again.seq == 3


def test_a_hung_generator_is_reported_once_and_the_show_goes_on():
    G = Hostile()
    w = InferenceWorker(G)
    w.hang_s = 0.3
    w.submit(req(1))
    good = w.wait(1, timeout=5)
    G.behaviour = "hang"
    w.submit(req(2))
    time.sleep(0.5)
    notice = w.latest()
    assert notice.error and "has not answered" in notice.error and notice.seq < 0
    np.testing.assert_array_equal(notice.pixels, good.pixels)
    assert w.latest() is notice and w.hangs == 1  # once, not every frame
    w.submit(req(3))  # requests keep coming: latest wins while it hangs
    G.behaviour = "ok"
    G.gate.set()
    assert w.wait(3, timeout=5).ok
    w.close()


def test_plugins_failing_at_import_or_in_the_factory_are_one_line(tmp_path, monkeypatch):
    (tmp_path / "lp_bad_import.py").write_text("raise RuntimeError('no CUDA here\\nmore')\n")
    (tmp_path / "lp_exit_import.py").write_text("import sys\nsys.exit(7)\n")
    (tmp_path / "lp_exit_factory.py").write_text("import sys\ndef make():\n    sys.exit(1)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    for spec, says in [("python:lp_bad_import:make", "RuntimeError: no CUDA here"),
                       ("python:lp_exit_import:make", "sys.exit(7)"),
                       ("python:lp_exit_factory:make", "sys.exit(1)")]:
        with pytest.raises(ModelError) as e:
            load_plugin(spec)
        assert says in str(e.value) and "\n" not in str(e.value)


def test_exit_while_the_generator_is_busy_does_not_abort(tmp_path):
    """Leaving the command line while a plugin is inside torch used to abort: status 134,
    "terminate called without an active exception"."""
    (tmp_path / "lp_busy_plugin.py").write_text(textwrap.dedent('''
        import torch
        class Busy:
            z_dim, c_dim, w_dim, num_ws, resolution, img_channels = 4, 0, 4, 2, 32, 3
            def __init__(self):
                self.w_avg = torch.zeros(4)
            def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
                return z[:, None, :].expand(-1, 2, -1)
            def synthesis(self, ws, noise_mode="const", transform=None):
                a = torch.randn(600, 600)
                for _ in range(400):          # seconds of torch work per frame
                    a = (a @ a).tanh()
                return torch.zeros(1, 3, 32, 32) + a.mean()
            def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
                return self.synthesis(self.mapping(z))
        def make():
            return Busy()
    '''))
    patch = tmp_path / "busy.toml"
    patch.write_text('[model]\nkind = "python:lp_busy_plugin:make"\n[output]\nsize = [32, 32]\n')
    import os
    env = dict(os.environ, PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}")
    env.pop("DISPLAY", None)
    r = subprocess.run([sys.executable, "-m", "latentperform.cli", "run", str(patch), "--headless",
                        "--seconds", "1", "--no-audio", "--osc-port", "0", "--no-watch"],
                       cwd=ROOT, capture_output=True, text=True, timeout=120, env=env)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    assert "terminate called" not in r.stderr and "Traceback" not in r.stderr
