"""Video out to other programs.

What runs for real here: NDI (cyndilib bundles the NDI runtime) from a headless engine to an NDI
receiver on this machine; the sending thread, its queue and its drop counting.  What cannot run
here: a virtual camera (no v4l2loopback module in this kernel) and Spout/Syphon (Windows/macOS):
for those the tests check the one-line messages that say what to install or load.  The sinks
named Fake*/Blocking* below are test doubles, not outputs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from latentperform.clock import FixedStepClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import Engine, open_show
from latentperform.engine.outputs import VideoOutputPart, attach_outputs
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface
from latentperform.render.outputs import (NDI_EXTRA, VIRTUALCAM_EXTRA, FrameSender, NdiSink, OutputUnavailable,
                                          SharedTextureSink, Sink, VirtualCamSink, loopback_devices, make_sink)


def _frame(i: int, size=(8, 6)) -> np.ndarray:
    return np.full((size[1], size[0], 3), i % 256, dtype=np.uint8)


class BlockingSink(Sink):
    """A test double for a slow receiver: `send` waits until the test lets it go."""

    label = "blocking test sink"

    def __init__(self) -> None:
        self.entered = threading.Event()
        self.release = threading.Event()
        self.sent: list[np.ndarray] = []
        self.closed = False

    def open(self, size, fps) -> None:
        pass

    def send(self, frame) -> None:
        self.entered.set()
        assert self.release.wait(10), "the test never released the sink"
        self.sent.append(frame)

    def close(self) -> None:
        self.closed = True


class FailingSink(Sink):
    """A test double for an output whose receiver went away: the second send raises."""

    label = "failing test sink"

    def __init__(self) -> None:
        self.calls = 0
        self.closed = False

    def open(self, size, fps) -> None:
        pass

    def send(self, frame) -> None:
        self.calls += 1
        if self.calls >= 2:
            raise ConnectionError("receiver gone")

    def close(self) -> None:
        self.closed = True


# -- the sending thread -------------------------------------------------------------------------------


def test_a_slow_sink_drops_the_oldest_frames_and_counts_them():
    sink = BlockingSink()
    sender = FrameSender(sink, depth=2)
    assert sender.push(_frame(0))
    assert sink.entered.wait(5)  # frame 0 is being sent, and the sink is stuck
    for i in range(1, 10):
        assert sender.push(_frame(i))  # never waits for the sink
    assert sender.queued == 2 and sender.dropped == 7 and sender.pushed == 10
    sink.release.set()
    sender.close()
    # the frame in flight, then the newest two, in order
    assert [int(f[0, 0, 0]) for f in sink.sent] == [0, 8, 9]
    assert sender.sent == 3 and sender.sent + sender.dropped == sender.pushed
    assert sink.closed
    assert sender.status() == "blocking test sink: 3 sent, 7 dropped"
    assert not sender.push(_frame(11))  # closed


def test_a_failing_sink_stops_with_its_reason_and_is_closed():
    sink = FailingSink()
    sender = FrameSender(sink)
    sender.push(_frame(0))
    sender.push(_frame(1))
    deadline = time.monotonic() + 10
    while sender.alive and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sender.error == "failing test sink: receiver gone"
    assert sink.closed and not sender.push(_frame(2))
    assert "stopped" in sender.status()
    sender.close()


def test_depth_must_be_positive():
    with pytest.raises(ValueError):
        FrameSender(BlockingSink(), depth=0)


# -- the one-line messages ------------------------------------------------------------------------------


def test_missing_extras_say_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "cyndilib", None)  # `import cyndilib` raises ImportError
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    with pytest.raises(OutputUnavailable) as err:
        NdiSink().open((64, 48), 30)
    assert str(err.value) == "NDI output needs cyndilib: pip install 'latentperform[ndi]'"
    with pytest.raises(OutputUnavailable) as err:
        VirtualCamSink().open((64, 48), 30)
    assert str(err.value) == "virtual camera output needs pyvirtualcam: pip install 'latentperform[virtualcam]'"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux: v4l2loopback")
def test_virtual_camera_without_a_loopback_device_says_how_to_load_one():
    pytest.importorskip("pyvirtualcam", reason="pyvirtualcam is not installed (the virtualcam extra)")
    if loopback_devices():
        pytest.skip("this machine has a v4l2loopback device")
    with pytest.raises(OutputUnavailable) as err:
        VirtualCamSink().open((64, 48), 30)
    msg = str(err.value)
    assert "\n" not in msg
    assert msg.startswith("virtual camera: no v4l2loopback device (/dev/video*); load one with: "
                          "sudo modprobe v4l2loopback")
    with pytest.raises(OutputUnavailable, match=r"^virtual camera: /dev/video63 does not exist; load one with"):
        VirtualCamSink("/dev/video63").open((64, 48), 30)


@pytest.mark.skipif(sys.platform in ("win32", "darwin"), reason="Spout/Syphon exist there")
@pytest.mark.parametrize("kind,only", [("spout", "Windows-only"), ("syphon", "macOS-only")])
def test_spout_and_syphon_elsewhere_say_they_are_platform_only(kind, only):
    with pytest.raises(OutputUnavailable) as err:
        make_sink(kind).open((64, 48), 30)
    assert str(err.value) == (f"{kind.capitalize()} is {only}: on this system send video with NDI "
                              f"({NDI_EXTRA}) or a virtual camera ({VIRTUALCAM_EXTRA})")


def test_sinks_by_name():
    assert isinstance(make_sink("ndi"), NdiSink) and make_sink("ndi").name == "latentperform"
    assert make_sink("ndi:Stage left").name == "Stage left"
    assert make_sink("virtualcam:/dev/video7").device == "/dev/video7"
    assert isinstance(make_sink("spout"), SharedTextureSink)
    with pytest.raises(ValueError, match='unknown video output "hdmi"'):
        make_sink("hdmi")


# -- on a real (headless) engine -------------------------------------------------------------------------


def _engine(size=(64, 48)) -> Engine:
    patch = load_patch(DEFAULT_PATCH)
    return open_show(patch, surface=HeadlessSurface(size), clock=FixedStepClock(10), fps=10, offline=True,
                  generator=BuiltinGenerator(resolution=32))


def test_missing_outputs_are_reported_and_the_show_goes_on(monkeypatch):
    monkeypatch.setitem(sys.modules, "cyndilib", None)
    monkeypatch.setitem(sys.modules, "pyvirtualcam", None)
    engine = _engine()
    try:
        parts = attach_outputs(engine, outputs=("ndi", "virtualcam", "spout"))
        assert parts == []
        errors = list(engine.stats.errors)
        assert any(e == "NDI output needs cyndilib: pip install 'latentperform[ndi]'" for e in errors), errors
        assert any("pip install 'latentperform[virtualcam]'" in e for e in errors), errors
        if sys.platform.startswith("linux"):
            assert any(e.startswith("Spout is Windows-only") for e in errors), errors
        assert engine.step().std() > 1  # the show goes on
    finally:
        engine.close()
        engine.surface.close()


def test_a_slow_output_never_slows_the_show():
    engine = _engine()
    sink = BlockingSink()
    part = engine.add_part(VideoOutputPart(FrameSender(sink, depth=2)))
    try:
        engine.step()
        assert sink.entered.wait(5)
        shown = [engine.step() for _ in range(9)]  # the sink is stuck: every tick still finishes
        assert part.sender.dropped == 7 and part.sender.queued == 2
        assert part.status_lines(engine) == ["blocking test sink: 0 sent, 7 dropped"]  # one in flight
        sink.release.set()
    finally:
        engine.close()  # closes the part: the queued frames go out
        engine.surface.close()
    assert len(sink.sent) == 3
    assert np.array_equal(sink.sent[-1], shown[-1])  # the newest picture, as the engine showed it


NDI_SCRIPT = r"""
import json, sys, time
import numpy as np
from latentperform.clock import FixedStepClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import Engine, open_show
from latentperform.engine.outputs import attach_outputs
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface
import cyndilib
from cyndilib.receiver import ReceiveFrameType
from cyndilib.video_frame import VideoRecvFrame
from cyndilib.wrapper import RecvBandwidth, RecvColorFormat

engine = open_show(load_patch(DEFAULT_PATCH), surface=HeadlessSurface((96, 64)), clock=FixedStepClock(10),
                fps=10, offline=True, generator=BuiltinGenerator(resolution=32))
parts = attach_outputs(engine, outputs=["ndi:lp-test"])
out = {"parts": len(parts), "errors": list(engine.stats.errors)}
shown = []  # every frame the engine showed
finder = cyndilib.Finder()
finder.open()
deadline = time.monotonic() + 60
names = []
while time.monotonic() < deadline and not any("lp-test" in n for n in names):
    finder.wait_for_sources(0.5)
    names = finder.get_source_names()
    shown.append(engine.step())
out["sources"] = names
source = next(finder.get_source(n) for n in names if "lp-test" in n)
recv = cyndilib.Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
frame = VideoRecvFrame()
recv.set_video_frame(frame)
recv.set_source(source)
got = []


def receive():  # a receiving program runs on its own
    while time.monotonic() < deadline and not got:
        if recv.receive(ReceiveFrameType.recv_all, 100) & ReceiveFrameType.recv_video:
            data = np.empty(frame.get_data_size(), np.uint8)
            frame.fill_p_data(data)
            w, h = frame.get_resolution()
            got.append(data.reshape(h, w, 4))


import threading
thread = threading.Thread(target=receive)
thread.start()
while time.monotonic() < deadline and not got:
    shown.append(engine.step())
    time.sleep(0.05)
thread.join()
got = got[0] if got else None
sender = parts[0].sender
out["received"] = None if got is None else list(got.shape)
if got is not None:
    # the received picture is one of the frames the engine showed (NDI's codec is lossy)
    out["diff"] = min(float(np.abs(got[..., :3].astype(float) - f.astype(float)).mean()) for f in shown)
    out["picture_std"] = float(got[..., :3].std())
out["connections"] = parts[0].sender.sink.connections()
recv.disconnect()
finder.close()
engine.close()
out["sent"], out["dropped"], out["error"] = sender.sent, sender.dropped, sender.error
print("RESULT " + json.dumps(out))
"""


def test_ndi_from_a_headless_engine_reaches_a_receiver(tmp_path):
    pytest.importorskip("cyndilib", reason="cyndilib is not installed (the ndi extra)")
    # Find sources by asking this machine directly: no mDNS daemon is needed (nor allowed off-box).
    (tmp_path / "ndi-config.v1.json").write_text(json.dumps(
        {"ndi": {"networks": {"ips": "127.0.0.1", "discovery": ""}, "multicast": {"send": {"enable": False}}}}))
    env = {**os.environ, "NDI_CONFIG_DIR": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", NDI_SCRIPT], env=env, capture_output=True, text=True, timeout=150)
    lines = [ln for ln in done.stdout.splitlines() if ln.startswith("RESULT ")]
    assert done.returncode == 0 and lines, done.stdout[-2000:] + done.stderr[-2000:]
    out = json.loads(lines[-1][len("RESULT "):])
    assert out["parts"] == 1 and out["errors"] == [], out
    assert any("(lp-test)" in n for n in out["sources"]), out
    assert out["received"] == [64, 96, 4], out
    assert out["picture_std"] > 5, out  # a picture, not a blank frame
    assert out["diff"] < 12, out
    print(f"NDI round trip: {out}")
    assert out["sent"] > 0 and out["error"] is None, out
