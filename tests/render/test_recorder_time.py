"""A live recording keeps the show's time (issue 12, item 11): late ticks and dropped frames are
filled by repeating the picture, early pushes are left out, and close() fills up to its moment,
so the video lasts exactly as long as the show and a sound recorded beside it stays in step."""

from __future__ import annotations

import threading

import numpy as np

from latentperform.render import probe_video
from latentperform.render.recorder import Recorder


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


class Sink:
    def __init__(self, gate: threading.Event | None = None) -> None:
        self.frames: list[int] = []
        self.gate = gate

    def write(self, pixels) -> None:
        if self.gate is not None:
            self.gate.wait(5)
        self.frames.append(int(pixels[0, 0, 0]))

    def close(self) -> None:
        pass


def frame(v: int) -> np.ndarray:
    return np.full((4, 4, 3), v, np.uint8)


def test_late_ticks_are_filled_and_early_ones_left_out():
    clock, sink = Clock(), Sink()
    rec = Recorder("unused.mp4", (4, 4), 10, encoder=sink, keep_time=True, clock=clock, queue_size=64)
    times = [0.0, 0.1, 0.2, 0.7, 0.8, 0.8, 0.8, 0.9, 1.0]  # a 0.5 s stall after 0.2; a burst at 0.8
    for k, t in enumerate(times):
        clock.t = 100.0 + t
        rec.push(frame(k))
    clock.t = 100.0 + 1.5  # the show ends half a second after its last frame
    rec.close()
    # the picture on screen fills a gap: 2 is held until 0.7; of the burst at 0.8 one more frame
    # is taken (a frame ahead at most), the third left out; the last picture is held to the end
    assert sink.frames == [0, 1, 2, 2, 2, 2, 2, 3, 4, 5, 7, 8, 8, 8, 8]
    assert rec.written == 15 == round(1.5 * 10) and rec.repeated == 7 and rec.skipped == 1


def test_jitter_under_a_frame_records_every_frame_once():
    import random
    rng = random.Random(4)
    clock, sink = Clock(), Sink()
    rec = Recorder("unused.mp4", (4, 4), 30, encoder=sink, keep_time=True, clock=clock, queue_size=256)
    for k in range(90):
        clock.t = 100.0 + k / 30 + rng.uniform(-0.012, 0.012)  # +-12 ms around a 33 ms period
        rec.push(frame(k))
    clock.t = 100.0 + 3.0
    rec.close()
    assert sink.frames == list(range(90)) and rec.repeated == 0 and rec.skipped == 0


def test_a_dropped_frame_is_filled_by_the_next_picture():
    clock, gate = Clock(), threading.Event()
    sink = Sink(gate)
    rec = Recorder("unused.mp4", (4, 4), 10, encoder=sink, keep_time=True, clock=clock, queue_size=2)
    for k in range(6):  # the encoder is stuck: the queue fills, frames are dropped
        clock.t = 100.0 + k / 10
        rec.push(frame(k))
    assert rec.dropped > 0
    gate.set()
    clock.t = 100.6
    rec.close()
    assert rec.written == 6  # the video still lasts 0.6 s


def test_a_real_video_lasts_as_long_as_the_show(tmp_path):
    clock = Clock()
    out = tmp_path / "live.mp4"
    rec = Recorder(out, (64, 48), 20, keep_time=True, clock=clock, queue_size=64)
    t = -0.05  # the first push (at 0) starts the recording
    for k in range(40):
        t += 0.4 if k % 10 == 9 else 0.05  # every tenth tick stalls 400 ms: a slow generator, a GC pause
        clock.t = 100.0 + t
        rec.push(frame(k * 5).repeat(16, 0).repeat(16, 1)[:48, :64])
    clock.t = 100.0 + t
    rec.close()
    info = probe_video(out)
    assert abs(info["duration"] - t) < 0.06, (info, t)  # one frame: the last one's own 50 ms
    assert info["frames"] == rec.written and rec.repeated > 0
