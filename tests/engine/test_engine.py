"""The engine loop with real parts: EGL offscreen surface, real UDP OSC, the real worker."""

from __future__ import annotations

import time

import numpy as np
import torch
from pythonosc.udp_client import SimpleUDPClient

from latentperform.clock import FixedStepClock, WallClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import open_show, open_live_inputs
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface


class FlakyGenerator(BuiltinGenerator):
    """Works, then raises (as a model that runs out of memory would), then works again."""

    fail = False

    def synthesis(self, ws, *a, **k):
        if self.fail:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory (test)")
        return super().synthesis(ws, *a, **k)


def _engine(generator=None, clock=None, offline=True):
    patch = load_patch(DEFAULT_PATCH)
    surface = HeadlessSurface((96, 64))
    return open_show(patch, surface=surface, clock=clock or FixedStepClock(10), fps=10, offline=offline,
                  generator=generator or BuiltinGenerator(resolution=48))


def test_model_failure_keeps_last_good_frame_and_recovers():
    G = FlakyGenerator(resolution=48)
    eng = _engine(G)
    try:
        for _ in range(3):
            good = eng.step()
        G.fail = True
        frozen = [eng.step() for _ in range(3)]
        assert any("out of memory" in e for e in eng.stats.errors), list(eng.stats.errors)
        for f in frozen:  # the picture stays (feedback may still smooth it, but it is no blank)
            assert f.std() > 3 and np.abs(f.astype(float) - good).mean() < 20
        G.fail = False
        after = [eng.step() for _ in range(5)]
        assert np.abs(after[-1].astype(float) - frozen[-1]).mean() > 0.2, "the show did not resume"
    finally:
        eng.close()
        eng.surface.close()


def test_osc_over_udp_changes_the_picture():
    eng = _engine(clock=WallClock(), offline=False)
    try:
        open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
        port = eng.inputs[0].port
        eng.step()
        time.sleep(0.3)
        base = eng.params.get("shader/grade/exposure")
        client = SimpleUDPClient("127.0.0.1", port)
        client.send_message("/lp/shader/grade/exposure", 1.5)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and abs(eng.params.get("shader/grade/exposure") - base) < 1e-3:
            time.sleep(0.02)
            eng.step()
        assert abs(eng.params.get("shader/grade/exposure") - min(1.5, eng.specs["shader/grade/exposure"].max)) < 1e-6
        assert eng.params.newest_input is not None
        # malformed datagrams do not stop the show
        import socket
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for junk in (b"", b"\x00\x01garbage", b"/lp/truncation\x00\x00,f\x00\x00\x00"):
            s.sendto(junk, ("127.0.0.1", port))
        s.close()
        for _ in range(5):
            out = eng.step()
        assert out is None or out.std() > 0
        assert eng.inputs[0].alive
    finally:
        eng.close()
        eng.surface.close()


def test_model_precision_from_the_patch():
    """[model] precision words reach models/device.py as they are and are resolved there, once
    (tests/engine/test_engine_device.py follows them through a show; "auto" on a GPU: test_cuda)."""
    from latentperform.models.device import resolve
    assert resolve("cpu", "auto").dtype is torch.float32
    assert resolve("cpu", "fp16").dtype is torch.float16     # asked for: given (StyleGAN keeps fp32 off CUDA)
    assert resolve("cpu", "fp32").dtype is torch.float32


def test_directions_file_from_the_patch_drives_latent_direction(tmp_path):
    """`[trajectory] directions_file`: the user's vectors become latent/direction/0..k-1, and
    moving along one of them changes the latent the generator gets by exactly that vector."""
    import pytest

    from latentperform.config import UserError
    G = BuiltinGenerator(resolution=48)
    vectors = np.zeros((3, G.w_dim), np.float32)
    vectors[0, 0] = vectors[1, 1] = vectors[2, 2] = 1.0
    np.save(tmp_path / "dirs.npy", vectors)
    text = DEFAULT_PATCH.read_text().replace("[trajectory]", '[trajectory]\ndirections_file = "dirs.npy"')
    (tmp_path / "p.toml").write_text(text)
    patch = load_patch(tmp_path / "p.toml")
    surface = HeadlessSurface((64, 48))
    eng = open_show(patch, surface=surface, clock=FixedStepClock(10), fps=10, offline=True, generator=G)
    try:
        names = {s.name for s in eng.specs.values() if s.name.startswith("latent/direction/")}
        assert names == {"latent/direction/0", "latent/direction/1", "latent/direction/2"}
        np.testing.assert_allclose(np.asarray(eng.trajectory.directions, np.float32), vectors, atol=1e-6)
    finally:
        eng.close()
        surface.close()
    (tmp_path / "dirs.npy").write_bytes(b"not a numpy file")
    surface = HeadlessSurface((64, 48))
    try:
        with pytest.raises(UserError, match="dirs.npy: not a numeric .npy array"):
            open_show(load_patch(tmp_path / "p.toml"), surface=surface, clock=FixedStepClock(10), fps=10,
                   offline=True, generator=G)
    finally:
        surface.close()


def test_work_scale_auto_is_half_live_on_a_software_renderer_and_full_offline():
    from latentperform.engine.core import _work_scale
    from latentperform.patch.schema import OutputSection

    class Ctx:
        def __init__(self, renderer):
            self.info = {"GL_RENDERER": renderer}

    auto = OutputSection()
    assert auto.work_scale == "auto"
    assert _work_scale(auto, Ctx("llvmpipe (LLVM 15.0.7, 256 bits)"), offline=False) == 0.5
    assert _work_scale(auto, Ctx("llvmpipe (LLVM 15.0.7, 256 bits)"), offline=True) == 1.0
    assert _work_scale(auto, Ctx("NVIDIA H200/PCIe/SSE2"), offline=False) == 1.0
    assert _work_scale(OutputSection(work_scale=0.75), Ctx("llvmpipe"), offline=True) == 0.75


def test_advance_leaves_the_state_a_rendered_frame_would_and_the_pictures_follow():
    """Engine.advance (a follower in step catching up) goes through a frame without a picture:
    parameters, musical time, the trajectory's point and the blackout fade end as after a
    rendered frame; the shaders' history (feedback) is not there, so the first rendered frames
    differ, and after a warm-up of rendered frames the pictures are the same to the bit."""
    import zlib
    from dataclasses import replace

    from latentperform.events import ControlEvent as Ev

    base = load_patch(DEFAULT_PATCH)
    patch = replace(base, inputs=replace(base.inputs, audio=replace(base.inputs.audio, enabled=False)),
                    output=replace(base.output, size=(96, 64)))
    moves = {5: ("osc", "param/latent/chroma", 0.9), 20: ("osc", "param/engine/blackout", 0.6),
             60: ("osc", "param/engine/blackout", 0.0)}

    def show():
        eng = open_show(patch, surface=HeadlessSurface((96, 64)), clock=FixedStepClock(10.0), fps=10.0,
                        generator=BuiltinGenerator(resolution=32, seed=3), offline=True, stage=False)
        return eng, eng.door.add_queue("test")

    (full, qf), (fast, qs) = show(), show()
    try:
        for k in range(70):
            for q in (qf, qs):
                if k in moves:
                    q.put(Ev(*moves[k], k / 10.0))
            full.step()
            fast.advance()
            if k in (30, 69):
                assert fast.params.values == full.params.values and fast.params.beat == full.params.beat
                assert np.array_equal(fast.last_request.z, full.last_request.z)
                assert fast.blackout_shown == full.blackout_shown
        assert fast.stats.advanced == 70 and fast.stats.frames == 0
        same = [zlib.crc32(full.step().tobytes()) == zlib.crc32(fast.step().tobytes()) for _ in range(40)]
        assert not same[0]                      # no history yet: the first picture differs
        assert all(same[30:]), same            # the trails' history rebuilt: identical
    finally:
        full.close()
        fast.close()
