"""The installation parts on a real show (EGL offscreen, the built-in generator): the watchdog is
fed only by presented frames, the state file, opening hours fading out and idling the generator."""

import socket
import time
from datetime import datetime, timedelta

import pytest

from latentperform.clock import FixedStepClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine.installation import HoursPart, ServicePart
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface
from latentperform.service.hours import OpeningHours
from latentperform.service.notify import Notifier
from latentperform.service.state import read_json
from latentperform.service.supervise import parse_message


def _engine(fps=10):
    from latentperform.engine import Engine
    patch = load_patch(DEFAULT_PATCH)
    return Engine(patch, surface=HeadlessSurface((96, 64)), clock=FixedStepClock(fps), fps=fps, offline=True,
                  generator=BuiltinGenerator(resolution=32))


@pytest.fixture
def show():
    eng = _engine()
    yield eng
    eng.close()
    eng.surface.close()


def _messages(sock) -> list[dict]:
    out = []
    sock.settimeout(0.02)
    while True:
        try:
            out.append(parse_message(sock.recv(4096)))
        except socket.timeout:
            return out


def test_the_watchdog_is_fed_by_presented_frames_only(show, tmp_path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    try:
        env = {"NOTIFY_SOCKET": str(tmp_path / "notify"), "WATCHDOG_USEC": "200000"}  # 0.2 s
        part = show.add_part(ServicePart("t", notifier=Notifier(env), state_file=tmp_path / "t.json", every=0.1))
        t0, frames = time.monotonic(), 0
        while time.monotonic() - t0 < 0.6 or frames < 10:
            show.step()
            frames += 1
            time.sleep(0.02)
        elapsed = time.monotonic() - t0
        got = _messages(sock)
        assert got[0]["READY"] == "1" and "playing" in got[0]["STATUS"]
        pings = [m for m in got if m.get("WATCHDOG") == "1"]
        # at most one per half period (0.1 s), and frames kept coming, so at least a few
        assert 3 <= len(pings) <= min(frames, elapsed / 0.1 + 1), (len(pings), frames, elapsed)
        time.sleep(0.5)               # the loop stalls: no frame, so no ping at all
        assert not [m for m in _messages(sock) if m.get("WATCHDOG") == "1"]
        show.step()
        assert [m for m in _messages(sock) if m.get("WATCHDOG") == "1"]  # back with the next frame
        part.close()
        assert {"STOPPING": "1"} in _messages(sock)
        state = read_json(tmp_path / "t.json")
        assert state["frames"] >= 3 and state["errors"] == 0 and state["generator"] == "BuiltinGenerator"
        assert abs(state["updated"] - time.time()) < 5
    finally:
        sock.close()


class Clock:
    def __init__(self, at):
        self.at = at

    def __call__(self):
        return self.at


def test_outside_the_hours_the_picture_fades_to_black_and_the_generator_idles(show):
    clock = Clock(datetime(2026, 12, 7, 17, 59, 0))   # a Monday, one minute before closing
    hours = OpeningHours.parse(["10:00-18:00"])
    part = show.add_part(HoursPart(hours, fade=1.0, now=clock, check_every=0.0))
    for _ in range(5):
        open_frame = show.step()
    assert open_frame.mean() > 10 and part.state_text() == "open"
    clock.at += timedelta(minutes=1)                  # 18:00: closed
    frames = [show.step() for _ in range(20)]         # 2 s at 10 fps, fade 1 s
    means = [f.mean() for f in frames]
    assert means[2] > 1.0 and means[-1] < 0.5         # a fade, not a cut, ending black
    assert all(b <= a + 0.5 for a, b in zip(means, means[1:]))
    assert part.frozen and part.state_text() == "closed (generator idle)" and show.fps == 5.0
    seq = show.worker.latest().seq
    for _ in range(5):
        show.step()
    assert show.worker.latest().seq == seq           # no new inference while closed
    clock.at = datetime(2026, 12, 8, 10, 0, 0)        # Tuesday 10:00: open again
    frames = [show.step() for _ in range(20)]
    assert show.worker.latest().seq > seq and not part.frozen and show.fps == 10
    assert frames[-1].mean() > 10 and part.state_text() == "open"


def test_the_daily_restart_ends_the_show(show):
    clock = Clock(datetime(2026, 12, 7, 4, 29, 0))
    part = show.add_part(HoursPart(OpeningHours.parse(restart="04:30"), now=clock, check_every=0.0))
    show.step()
    assert not part.restarting
    clock.at = datetime(2026, 12, 7, 4, 30, 0)
    show.step()
    assert part.restarting and show._stop
