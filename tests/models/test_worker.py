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
    """A generator its maker put in half runs in half: the worker takes the dtype from it."""
    worker = InferenceWorker(BuiltinGenerator(resolution=8).half())
    assert worker.dtype == torch.float16 and worker.generator.w_avg.dtype == torch.float16
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


# ------------------------------------------------------------------ latent interpolation (live)
def _timed(seq, t, z=(0.1, 0.2, 0.3, 0.4), **kw):
    """A request of the engine's tick at time t (the stamp: an input just before)."""
    return LatentRequest(z=np.asarray(z, np.float32), seq=seq, time=t, stamp=t - 0.001, **kw)


def _render_pair(worker, a, b, period):
    worker.submit(a, interpolate=period)
    first = worker.wait(a.seq, timeout=5)
    worker.submit(b, interpolate=period)
    return first, worker.wait(b.seq, timeout=5)


def test_a_batch_interpolates_ws_between_the_last_rendered_request_and_the_newest(fake):
    """Truncation, style mix and offset are applied to each endpoint first; the batch is the
    per-layer lerp of those ws, rendered in one call; its last picture is the newest request's
    own and each picture equals its latent rendered alone."""
    kw = dict(psi=0.8, mix_z=np.array([-1.0, 0.5, 4.0, 0.0], np.float32), mix_layers=(1, 3))
    a = _timed(0, 1.0, z=(0.2, 0.1, 0.0, 0.0), mix_amount=0.0, w_offset=np.zeros(3, np.float32), **kw)
    b = _timed(9, 1.1, z=(0.9, -0.3, 0.4, 0.0), mix_amount=0.5, w_offset=np.array([0.1, 0.0, -0.2], np.float32), **kw)
    with InferenceWorker(fake) as worker:
        first, last = _render_pair(worker, a, b, period=0.025)  # 0.1 s apart: 4 display frames
        ws_a, ws_b = worker.request_ws(a).numpy(), worker.request_ws(b).numpy()
    assert first.ok and first.inbetween == ()  # nothing to interpolate from: a single picture
    assert last.ok and len(last.inbetween) == 3
    assert [c.shape[0] for c in fake.calls] == [1, 4]  # one synthesis call for the batch
    fractions = np.array([0.25, 0.5, 0.75, 1.0], np.float32)[:, None, None]
    np.testing.assert_allclose(fake.calls[1].numpy(), ws_a + (ws_b - ws_a) * fractions, rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(fake.calls[1][-1].numpy(), ws_b[0])  # the endpoint exactly

    frames = [*last.inbetween, last]
    alone = InferenceWorker(FakeGenerator())
    for f, ws in zip(frames, fake.calls[1].numpy()):
        pic = alone.render_now(LatentRequest(z=np.zeros(4, np.float32), ws=ws)).pixels
        np.testing.assert_array_equal(f.pixels, pic)
    np.testing.assert_array_equal(last.pixels, alone.render_now(b).pixels)  # the newest request alone
    assert [f.time for f in frames] == pytest.approx([1.025, 1.05, 1.075, 1.1])
    assert all(f.seq == 9 and f.stamp == b.stamp and f.ok for f in frames)
    assert len({f.pixels.tobytes() for f in frames}) == 4  # four different pictures
    assert worker.rendered == 2 and worker.interpolated == 3


def test_batch_size_follows_the_display_period_and_is_capped(fake):
    with InferenceWorker(fake) as worker:
        worker.max_batch = 5
        for seq, t in enumerate([0.0, 0.03, 0.08, 0.2, 1.2]):  # 1.2, 2, 4.8 and 40 periods of 25 ms
            worker.submit(_timed(seq, t, z=(t, 0, 0, 0)), interpolate=0.025)
            worker.wait(seq, timeout=5)
        assert [c.shape[0] for c in fake.calls] == [1, 1, 2, 5, 5]
        worker.submit(_timed(5, 2.2), interpolate=None)  # no display period given: one picture
        worker.wait(5, timeout=5)
    assert fake.calls[-1].shape[0] == 1
    sync = FakeGenerator()
    worker = InferenceWorker(sync, synchronous=True)  # offline: every request alone, as before
    for seq, t in enumerate([0.0, 0.5, 1.0]):
        worker.submit(_timed(seq, t), interpolate=0.025)
        assert worker.latest().inbetween == ()
    assert [c.shape[0] for c in sync.calls] == [1, 1, 1]


def test_latest_wins_between_batches(fake):
    """While a batch renders, newer requests replace each other; the next batch runs from the
    last rendered request to the newest one."""
    fake.gate = threading.Event()
    with InferenceWorker(fake) as worker:
        worker.submit(_timed(0, 0.0, z=(0.0, 0, 0, 0)), interpolate=0.01)
        assert fake.started.wait(5)
        for seq in range(1, 7):
            worker.submit(_timed(seq, seq * 0.01, z=(seq / 10, 0, 0, 0)), interpolate=0.01)
        fake.gate.set()
        frame = worker.wait(6, timeout=5)
    assert worker.skipped == 5 and frame.seq == 6 and len(frame.inbetween) == 5
    np.testing.assert_allclose(fake.calls[1][:, 0, 0].numpy() - 10.0, np.arange(1, 7) / 10, atol=1e-6)


def test_a_failed_batch_is_a_value_and_the_next_starts_from_the_last_good_request(fake):
    with InferenceWorker(fake) as worker:
        good, _ = _render_pair(worker, _timed(0, 0.0, z=(0.0, 0, 0, 0)), _timed(1, 0.05, z=(0.5, 0, 0, 0)), 0.025)
        fake.behaviour = "nan"
        worker.submit(_timed(2, 0.1, z=(1.0, 0, 0, 0)), interpolate=0.025)
        failed = worker.wait(2, timeout=5)
        assert failed.error and "NaN" in failed.error and failed.inbetween == ()
        assert worker.last_good.seq == 1
        np.testing.assert_array_equal(failed.pixels, worker.last_good.pixels)
        fake.behaviour = "ok"
        worker.submit(_timed(3, 0.15, z=(1.5, 0, 0, 0)), interpolate=0.025)
        frame = worker.wait(3, timeout=5)
    assert frame.ok and len(frame.inbetween) == 3  # 0.05 -> 0.15: from the last good request
    np.testing.assert_allclose(fake.calls[-1][:, 0, 0].numpy() - 10.0, [0.75, 1.0, 1.25, 1.5], atol=1e-6)


def _turn(deg, tx=0.0, ty=0.0):
    a = np.radians(deg)
    return np.array([[np.cos(a), np.sin(a), tx], [-np.sin(a), np.cos(a), ty], [0, 0, 1]], np.float32)


def test_transforms_turn_by_the_shorter_angle_and_move_straight():
    from latentperform.models.worker import interpolate_transform

    np.testing.assert_allclose(interpolate_transform(_turn(350), _turn(10, 0.4, -0.2), 0.5), _turn(0, 0.2, -0.1),
                               atol=1e-6)
    np.testing.assert_allclose(interpolate_transform(None, _turn(40), 0.25), _turn(10), atol=1e-6)
    b = _turn(33, 0.1, 0.2)
    assert interpolate_transform(_turn(0), b, 1.0).tobytes() == b.tobytes()  # the endpoint exactly
    shear = np.array([[1, 0.5, 0], [0, 1, 0], [0, 0, 1]], np.float32)  # not a rigid motion: entry by entry
    np.testing.assert_allclose(interpolate_transform(None, shear, 0.5), (np.eye(3) + shear) / 2, atol=1e-6)


def test_a_batch_with_a_moving_transform_on_the_builtin_generator():
    """The built-in generator takes one transform per picture: each picture of the batch equals
    its latent and transform rendered alone (to float rounding)."""
    G = BuiltinGenerator(resolution=24, seed=2)
    rng = np.random.default_rng(1)
    za, zb = rng.standard_normal((2, G.z_dim)).astype(np.float32)
    a, b = _timed(0, 0.0, z=za, transform=_turn(0)), _timed(1, 0.1, z=zb, transform=_turn(60, 0.2, 0.0))
    with InferenceWorker(G) as worker:
        _, last = _render_pair(worker, a, b, period=0.025)
        ws_a, ws_b = worker.request_ws(a).numpy()[0], worker.request_ws(b).numpy()[0]
    frames = [*last.inbetween, last]
    assert len(frames) == 4
    alone = InferenceWorker(BuiltinGenerator(resolution=24, seed=2))
    for i, f in enumerate(frames, 1):
        ws = ws_a + (ws_b - ws_a) * (i / 4)
        pic = alone.render_now(LatentRequest(z=za, ws=ws, transform=_turn(15 * i, 0.05 * i, 0.0))).pixels
        assert np.abs(f.pixels.astype(int) - pic).max() <= 2, i
    np.testing.assert_array_equal(last.pixels, alone.render_now(b).pixels)


def test_a_generator_taking_one_transform_gets_no_batch_while_the_transform_moves(fake):
    with InferenceWorker(fake) as worker:
        _render_pair(worker, _timed(0, 0.0, transform=_turn(0)), _timed(1, 0.1, transform=_turn(30)), 0.025)
        assert [c.shape[0] for c in fake.calls] == [1, 1]
        worker.submit(_timed(2, 0.2, z=(0.5, 0, 0, 0), transform=_turn(30)), interpolate=0.025)
        assert len(worker.wait(2, timeout=5).inbetween) == 3  # a still transform: a batch, one matrix
    assert fake.calls[-1].shape[0] == 4 and fake.transforms[-1].shape == (3, 3)
    fake.batched_transform = True  # a generator may say it takes (N, 3, 3)
    with InferenceWorker(fake) as worker:
        _render_pair(worker, _timed(0, 0.0, transform=_turn(0)), _timed(1, 0.1, transform=_turn(30)), 0.025)
    assert fake.calls[-1].shape[0] == 4 and fake.transforms[-1].shape == (4, 3, 3)


def test_batch_host_buffers_are_not_rewritten_while_a_frame_of_theirs_lives(fake):
    """The pinned ring for batches (exercised here with plain memory): a buffer is reused only
    once every Frame of its batch is gone; with all in use, a batch gets fresh memory."""
    import gc

    from latentperform.models import worker as worker_mod

    worker = InferenceWorker(fake)
    worker.max_batch = 3

    def batch(value):
        u8 = torch.full((3, 2, 2, 3), value, dtype=torch.uint8)
        host, claim = worker._batch_host(u8, pin=False)
        frames = [Frame(pixels=host[i]) for i in range(3)]
        if claim is not None:
            claim.slot[1] = [worker_mod.weakref.ref(f) for f in frames]
        return frames

    held = [batch(v) for v in range(worker_mod.BATCH_BUFFERS)]
    buffers = {f[0].pixels.__array_interface__["data"][0] for f in held}
    assert len(buffers) == worker_mod.BATCH_BUFFERS  # each batch its own buffer
    extra = batch(200)  # every buffer is read by a live Frame: fresh memory
    assert extra[0].pixels.__array_interface__["data"][0] not in buffers
    keep_one = held[1][2]  # one frame of batch 1 is still queued somewhere
    held = [held[0], None, held[2], held[3]]
    gc.collect()
    again = batch(201)
    assert again[0].pixels.__array_interface__["data"][0] not in buffers  # batch 1's buffer stays taken
    assert int(keep_one.pixels[0, 0, 0]) == 1
    del keep_one
    gc.collect()
    reused = batch(202)
    assert reused[0].pixels.__array_interface__["data"][0] in buffers
    assert all(int(f.pixels[0, 0, 0]) == v for v, fs in zip((0, 2, 3), (held[0], held[2], held[3])) for f in fs)
