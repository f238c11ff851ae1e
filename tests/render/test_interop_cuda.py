"""CUDA-OpenGL interop on a real NVIDIA GPU with an EGL context on NVIDIA's driver: a CUDA
frame goes into the texture without host memory, and what the texture holds is the frame.
Marked `cuda` (skipped without one; bench/gpu.sh runs it).  If the EGL context is Mesa's (no
NVIDIA EGL vendor library), the test says so and skips: the host path then runs, and
tests/render/test_interop.py covers that fallback on any machine."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.cuda


def test_a_cuda_frame_reaches_the_texture_through_the_interop():
    import torch

    from latentperform.render import HeadlessSurface
    from latentperform.render.interop import CudaGLUploader, context_reason
    from latentperform.render.upload import FrameTexture

    surface = HeadlessSurface((64, 48))
    try:
        reason = context_reason(surface.ctx.info)
        if reason:
            pytest.skip(f"EGL here is not NVIDIA's: {reason}")
        if CudaGLUploader.create(surface.ctx) is None:
            pytest.fail("an NVIDIA EGL context and a CUDA device, yet the interop turned itself off (see the log)")
        frame = torch.randint(0, 256, (48, 64, 3), dtype=torch.uint8, device="cuda")
        tex = FrameTexture(surface.ctx)
        tex.upload(np.zeros((48, 64, 3), np.uint8), tensor=frame.flip(0).contiguous())  # worker's GL order
        assert tex._cuda is not None and tex._cuda.uploads == 1, "the interop path did not run"
        got = np.frombuffer(tex.texture.read(alignment=1), np.uint8).reshape(48, 64, 3)[::-1]  # GL rows bottom first
        np.testing.assert_array_equal(got, frame.cpu().numpy())
        tex.release()
    finally:
        surface.close()
