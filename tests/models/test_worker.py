"""The inference worker: latest wins, failures are values, the request -> ws arithmetic, and the
float -> uint8 RGB conversion.  Fake generators stand in for networks; the code under test is the
worker's own."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
import torch

from latentperform.events import LatentRequest
from latentperform.models import BuiltinGenerator, Frame, InferenceWorker

Z_DIM, W_DIM, NUM_WS = 4, 3, 5


class FakeGenerator:
    """mapping: ws[:, l] = z[:, :3] * (l + 1) + 10; synthesis: a picture whose value is ws[0, 0, 0]
    scaled into [-1, 1], or whatever `behaviour` says.  Records every synthesis call."""

    z_dim, c_dim, w_dim, num_ws, resolution, img_channels = Z_DIM, 0, W_DIM, NUM_WS, 8, 3

    def __init__(self, behaviour="ok", channels=3):
        self.w_avg = torch.tensor([10.0, 10.0, 10.0])
        self.behaviour = behaviour
        self.channels = channels
        self.calls: list[torch.Tensor] = []
        self.transforms: list = []
        self.gate: threading.Event | None = None  # when set, synthesis waits for it
        self.started = threading.Event()

    def mapping(self, z, c=None, truncation_psi=1.0, truncation_cutoff=None):
        layers = torch.arange(1, NUM_WS + 1, dtype=z.dtype)[None, :, None]
        return z[:, None, :W_DIM] * layers + 10.0

    def synthesis(self, ws, noise_mode="const", transform=None):
        self.calls.append(ws.clone())
        self.transforms.append(transform)
        self.started.set()
        if self.gate is not None:
            assert self.gate.wait(5)
        behaviour = self.behaviour
        if behaviour == "raise":
            raise RuntimeError("the network fell over\nsecond line of detail")
        if behaviour == "oom":
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        value = torch.tanh(ws[:, 0, 0] - 10.0)  # (N,)
        img = value[:, None, None, None].expand(ws.shape[0], self.channels, 6, 8).clone()
        if behaviour == "nan":
            img[0, 0, 2, 3] = float("nan")
        return img

    def __call__(self, z, c=None, truncation_psi=1.0, noise_mode="const"):
        return self.synthesis(self.mapping(z, c, truncation_psi), noise_mode)


def _request(seq=0, z=(0.1, 0.2, 0.3, 0.4), **kw):
    return LatentRequest(z=np.asarray(z, np.float32), seq=seq, time=seq * 0.5, stamp=seq * 0.5 - 0.01, **kw)


@pytest.fixture
def fake():
    return FakeGenerator()


# ------------------------------------------------------------------------------ latest wins
def test_latest_wins_skips_older_requests(fake):
    fake.gate = threading.Event()
    with InferenceWorker(fake) as worker:
        worker.submit(_request(0, z=(0.0, 0, 0, 0)))
        assert fake.started.wait(5)  # request 0 is rendering and blocked
        for seq in range(1, 21):
            worker.submit(_request(seq, z=(seq / 100, 0, 0, 0)))
        t0 = time.perf_counter()
        assert worker.latest() is None  # nothing finished yet, and asking does not wait
        assert time.perf_counter() - t0 < 0.05
        fake.gate.set()
        frame = worker.wait(20, timeout=5)
    assert frame.seq == 20 and frame.error is None
    rendered = [round(float(ws[0, 0, 0]) - 10.0, 4) for ws in fake.calls]
    assert rendered == [0.0, 0.2], "only the first and the newest request should render"
    assert worker.skipped == 19 and worker.rendered == 2


def test_frame_carries_request_times_and_pixels(fake):
    with InferenceWorker(fake) as worker:
        worker.submit(_request(7))
        frame = worker.wait(7, timeout=5)
    assert isinstance(frame, Frame) and frame.ok
    assert (frame.seq, frame.time, frame.stamp) == (7, 3.5, 3.49)
    assert frame.pixels.dtype == np.uint8 and frame.pixels.shape == (6, 8, 3)
    assert frame.pixels.flags["C_CONTIGUOUS"]
    assert frame.gen_ms >= 0
    assert worker.latest() is frame and worker.last_good is frame


def test_busy_and_wait_for_idle(fake):
    fake.gate = threading.Event()
    with InferenceWorker(fake) as worker:
        assert not worker.busy
        worker.submit(_request(0))
        assert fake.started.wait(5)
        assert worker.busy and worker.wait(timeout=0.05) is None  # still rendering: nothing yet
        fake.gate.set()
        assert worker.wait(timeout=5).seq == 0
        assert not worker.busy


def test_synchronous_mode_renders_every_request_in_order(fake):
    worker = InferenceWorker(fake, synchronous=True)
    for seq in range(5):
        worker.submit(_request(seq, z=(seq / 10, 0, 0, 0)))
        frame = worker.latest()
        assert frame.seq == seq and frame.ok  # its own frame, at once
    assert [round(float(ws[0, 0, 0]) - 10.0, 4) for ws in fake.calls] == [0.0, 0.1, 0.2, 0.3, 0.4]
    assert worker.skipped == 0 and worker.rendered == 5 and worker._thread is None
    fake.behaviour = "raise"
    worker.submit(_request(5))
    assert worker.latest().error and worker.last_good.seq == 4
    np.testing.assert_array_equal(worker.latest().pixels, worker.last_good.pixels)


def test_submit_after_close_is_refused(fake):
    for synchronous in (False, True):
        worker = InferenceWorker(fake, synchronous=synchronous)
        worker.close()
        with pytest.raises(RuntimeError, match="closed"):
            worker.submit(_request())


# ------------------------------------------------------------------------ failures as values
@pytest.mark.parametrize("behaviour, expected", [
    ("raise", "RuntimeError: the network fell over"),
    ("oom", "out of GPU memory: CUDA out of memory. Tried to allocate 2.00 GiB"),
    ("nan", "NaN"),
])
def test_failure_is_a_value_and_last_good_stays(fake, behaviour, expected):
    with InferenceWorker(fake) as worker:
        worker.submit(_request(1))
        good = worker.wait(1, timeout=5)
        assert good.ok
        fake.behaviour = behaviour
        worker.submit(_request(2))
        bad = worker.wait(2, timeout=5)
        assert not bad.ok and expected in bad.error and "\n" not in bad.error
        assert bad.seq == 2 and bad.stamp == _request(2).stamp
        assert worker.last_good is good
        np.testing.assert_array_equal(bad.pixels, good.pixels)  # the last good picture stays on screen
        assert worker.failed == 1
        # recovery: the next good request renders normally
        fake.behaviour = "ok"
        worker.submit(_request(3, z=(0.5, 0, 0, 0)))
        again = worker.wait(3, timeout=5)
        assert again.ok and worker.last_good is again and worker.latest() is again


def test_failure_before_any_good_frame_has_no_pixels():
    with InferenceWorker(FakeGenerator("raise")) as worker:
        worker.submit(_request(0))
        frame = worker.wait(0, timeout=5)
    assert frame.error and frame.pixels is None and worker.last_good is None


def test_render_now_turns_failures_into_values_too(fake):
    worker = InferenceWorker(fake)
    worker.submit(_request(1))
    assert worker.wait(1, timeout=5).ok
    fake.behaviour = "oom"
    frame = worker.render_now(_request(4))
    assert frame.error.startswith("out of GPU memory") and frame.seq == 4
    assert frame.pixels is None, "an offline result must not depend on the live frames"
    worker.close()


def test_a_bad_request_is_a_failure_not_an_exception(fake):
    frame = InferenceWorker(fake).render_now(_request(z=(1.0, 2.0)))  # wrong z size
    assert frame.error and "\n" not in frame.error


# ------------------------------------------------------------------------ request -> ws
def _ws_of(worker, request):
    return worker.request_ws(request).numpy()


def _hand_mapping(z):
    z = np.asarray(z, np.float32)
    return np.stack([z[:W_DIM] * (layer + 1) + 10.0 for layer in range(NUM_WS)])[None]  # (1, L, W)


def test_ws_from_z_and_from_given_ws(fake):
    worker = InferenceWorker(fake)
    z = np.array([0.3, -0.2, 0.5, 9.0], np.float32)
    np.testing.assert_allclose(_ws_of(worker, _request(z=z)), _hand_mapping(z), rtol=1e-6)
    given = np.arange(NUM_WS * W_DIM, dtype=np.float32).reshape(NUM_WS, W_DIM)
    np.testing.assert_allclose(_ws_of(worker, _request(z=z, ws=given)), given[None])


def test_truncation_pulls_toward_w_avg(fake):
    worker = InferenceWorker(fake)
    z = np.array([1.0, 2.0, 3.0, 0.0], np.float32)
    ws = _hand_mapping(z)
    w_avg = fake.w_avg.numpy()
    expected = w_avg + 0.7 * (ws - w_avg)
    np.testing.assert_allclose(_ws_of(worker, _request(z=z, psi=0.7)), expected, rtol=1e-6)
    cut = ws.copy()
    cut[:, :2] = w_avg + 0.25 * (ws[:, :2] - w_avg)
    np.testing.assert_allclose(_ws_of(worker, _request(z=z, psi=0.25, cutoff=2)), cut, rtol=1e-6)


def test_style_mix_then_offset(fake):
    worker = InferenceWorker(fake)
    z = np.array([1.0, 2.0, 3.0, 0.0], np.float32)
    mix_z = np.array([-1.0, 0.5, 4.0, 0.0], np.float32)
    offset = np.array([0.1, -0.2, 0.3], np.float32)
    w_avg = fake.w_avg.numpy()
    psi = 0.8
    ws = w_avg + psi * (_hand_mapping(z) - w_avg)
    mix = w_avg + psi * (_hand_mapping(mix_z) - w_avg)  # the mixed-in latent is truncated alike
    expected = ws.copy()
    expected[:, 1:3] = ws[:, 1:3] + 0.25 * (mix[:, 1:3] - ws[:, 1:3])
    expected = expected + offset  # on every layer, after truncation and mixing
    got = _ws_of(worker, _request(z=z, psi=psi, mix_z=mix_z, mix_layers=(1, 3), mix_amount=0.25,
                                  w_offset=offset))
    np.testing.assert_allclose(got, expected, rtol=1e-5)
    # untouched layers really are untouched; a zero amount or empty range mixes nothing
    np.testing.assert_allclose(got[:, [0, 3, 4]], ws[:, [0, 3, 4]] + offset, rtol=1e-5)
    for kw in (dict(mix_amount=0.0, mix_layers=(1, 3)), dict(mix_amount=1.0, mix_layers=(2, 2))):
        np.testing.assert_allclose(_ws_of(worker, _request(z=z, psi=psi, mix_z=mix_z, **kw)), ws, rtol=1e-6)


def test_transform_reaches_synthesis(fake):
    m = np.array([[0, -1, 0.2], [1, 0, 0], [0, 0, 1]], np.float32)
    InferenceWorker(fake).render_now(_request(transform=m))
    np.testing.assert_array_equal(fake.transforms[-1].numpy(), m)
    InferenceWorker(fake).render_now(_request())
    assert fake.transforms[-1] is None


# ------------------------------------------------------------------------ pixels
def _pixels_for(value, channels=3):
    """Render a flat picture of `value` (in [-1, 1]) through the worker."""
    fake = FakeGenerator(channels=channels)
    z = (float(np.arctanh(value)) if abs(value) < 1 else value * 20.0, 0.0, 0.0, 0.0)
    return InferenceWorker(fake).render_now(_request(z=z)).pixels


def test_float_to_uint8_mapping():
    assert _pixels_for(-1.0)[0, 0].tolist() == [0, 0, 0]
    assert _pixels_for(1.0)[0, 0].tolist() == [255, 255, 255]
    assert _pixels_for(0.0)[0, 0].tolist() == [128, 128, 128]


def test_grey_is_replicated_and_extra_channels_dropped():
    grey = _pixels_for(0.5, channels=1)
    assert grey.shape == (6, 8, 3) and (grey == grey[..., :1]).all()
    four = _pixels_for(0.5, channels=4)
    assert four.shape == (6, 8, 3) and four.flags["C_CONTIGUOUS"]


def test_render_now_with_builtin_is_deterministic_and_leaves_latest_alone():
    G = BuiltinGenerator(resolution=32, seed=1)
    worker = InferenceWorker(G)
    z = np.random.default_rng(0).standard_normal(G.z_dim).astype(np.float32)
    shift = np.eye(3, dtype=np.float32)
    shift[0, 2] = 0.25
    a = worker.render_now(_request(z=z, transform=shift, psi=0.7))
    b = InferenceWorker(BuiltinGenerator(resolution=32, seed=1)).render_now(_request(z=z, transform=shift, psi=0.7))
    assert a.ok and a.pixels.shape == (32, 32, 3)
    np.testing.assert_array_equal(a.pixels, b.pixels)
    assert not np.array_equal(a.pixels, worker.render_now(_request(z=z, psi=0.7)).pixels)
    assert worker.latest() is None and worker.last_good is None


def test_size_is_passed_to_generators_that_take_it(fake):
    worker = InferenceWorker(BuiltinGenerator(resolution=32), size=(24, 40))
    assert worker.render_now(_request(z=np.zeros(64, np.float32))).pixels.shape == (24, 40, 3)
    with pytest.raises(ValueError, match="size"):
        InferenceWorker(fake, size=(24, 40))


def test_half_precision_path_on_a_tiny_picture():
    worker = InferenceWorker(BuiltinGenerator(resolution=8), dtype=torch.float16)
    frame = worker.render_now(_request(z=np.ones(64, np.float32), psi=0.5, w_offset=np.full(64, 0.1, np.float32)))
    assert frame.ok, frame.error
    assert frame.pixels.shape == (8, 8, 3) and frame.pixels.dtype == np.uint8


def test_frames_on_the_worker_thread_are_not_faulted_in_afresh():
    """With retain_freed_memory (the worker's default), a frame's tensors reuse freed memory:
    a 256x256 built-in frame otherwise costs thousands of page faults on a worker thread."""
    resource = pytest.importorskip("resource")
    from latentperform.models.worker import retain_freed_memory

    if not retain_freed_memory():
        pytest.skip("not glibc: malloc is left alone")
    G = BuiltinGenerator(resolution=256)
    with InferenceWorker(G) as worker:
        z = np.zeros(G.z_dim, np.float32)
        for seq in range(3):  # warm up
            worker.submit(_request(seq, z=z))
            worker.wait(seq, timeout=10)
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for seq in range(3, 8):
            worker.submit(_request(seq, z=z))
            assert worker.wait(seq, timeout=10).ok
        faults = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 5
    assert faults < 500, f"{faults:.0f} page faults a frame"
