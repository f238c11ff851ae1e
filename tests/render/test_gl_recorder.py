"""Recording: real H.264 files through the bundled ffmpeg, probed back."""

from __future__ import annotations

import os
import time

import imageio_ffmpeg
import numpy as np
import pytest
import soundfile as sf
from render_helpers import pattern

from latentperform.config import UserError
from latentperform.events import ParamState
from latentperform.render import FrameTexture, HeadlessSurface, ShaderChain
from latentperform.render.recorder import Recorder, VideoWriter, check_writable, probe_video, save_png


def _frames(n: int, w: int = 64, h: int = 48):
    for k in range(n):
        frame = np.zeros((h, w, 3), np.uint8)
        frame[:, : (k * w) // n + 1] = (40, 200, 120)  # a bar that grows
        yield frame


def _wav(path, seconds: float, sr: int = 48000) -> str:
    t = np.arange(int(seconds * sr)) / sr
    sf.write(str(path), 0.3 * np.sin(2 * np.pi * 440 * t).astype(np.float32), sr)
    return str(path)


def test_writes_a_playable_mp4_with_the_right_frames_and_duration(tmp_path):
    out = tmp_path / "clip.mp4"
    with VideoWriter(out, (64, 48), 24) as w:
        for frame in _frames(36):
            w.write(frame)
    info = probe_video(out)
    assert info["frames"] == 36 and info["fps"] == 24
    assert abs(info["duration"] - 1.5) < 0.05
    assert (info["width"], info["height"], info["has_audio"]) == (64, 48, False)
    decoded = imageio_ffmpeg.read_frames(str(out))
    meta = next(decoded)
    assert meta["codec"] == "h264" and "yuv420p" in meta["pix_fmt"]
    last = np.frombuffer(list(decoded)[-1], np.uint8).reshape(48, 64, 3)
    assert np.abs(last.astype(int) - (40, 200, 120)).mean() < 8


@pytest.mark.parametrize("audio_seconds", [3.0, 0.5])
def test_audio_is_muxed_and_cut_or_padded_to_the_video(tmp_path, audio_seconds):
    wav = _wav(tmp_path / "music.wav", audio_seconds)
    out = tmp_path / "show.mp4"
    w = VideoWriter(out, (64, 48), 30, audio_path=wav)
    for frame in _frames(30):
        w.write(frame)
    w.close()
    info = probe_video(out)
    assert info["has_audio"] and info["frames"] == 30
    assert abs(info["duration"] - 1.0) < 0.05
    assert [p.name for p in tmp_path.iterdir()] != [] and not list(tmp_path.glob(".*"))


def test_odd_sizes_are_padded_not_refused(tmp_path):
    out = tmp_path / "odd.mp4"
    with VideoWriter(out, (33, 17), 10) as w:
        for frame in _frames(5, 33, 17):
            w.write(frame)
    info = probe_video(out)
    assert info["frames"] == 5 and (info["width"], info["height"]) == (34, 18)


def test_an_unwritable_output_is_refused_before_anything_starts(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        check_writable(tmp_path / "no" / "such" / "dir" / "out.mp4")
    with pytest.raises(UserError, match="is a directory"):
        VideoWriter(tmp_path, (64, 48), 30)
    with pytest.raises(UserError, match="no such file"):
        VideoWriter(tmp_path / "x.mp4", (64, 48), 30, audio_path=tmp_path / "missing.wav")
    assert not (tmp_path / "x.mp4").exists()
    if os.geteuid() != 0:  # root may write anywhere
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o500)
        with pytest.raises(UserError, match="permission denied"):
            check_writable(locked / "out.mp4")


def test_a_frame_of_the_wrong_size_is_refused(tmp_path):
    w = VideoWriter(tmp_path / "a.mp4", (64, 48), 30)
    with pytest.raises(ValueError, match="does not match"):
        w.write(np.zeros((48, 65, 3), np.uint8))
    w.close()


class SlowEncoder:
    def __init__(self, delay: float) -> None:
        self.delay, self.frames, self.closed = delay, 0, False

    def write(self, pixels) -> None:
        time.sleep(self.delay)
        self.frames += 1

    def close(self) -> None:
        self.closed = True


def test_live_recorder_drops_and_counts_frames_instead_of_blocking():
    encoder = SlowEncoder(0.02)
    rec = Recorder("unused.mp4", (64, 48), 60, queue_size=4, encoder=encoder)
    frame = np.zeros((48, 64, 3), np.uint8)
    worst = 0.0
    for _ in range(60):
        t0 = time.perf_counter()
        rec.push(frame)
        worst = max(worst, time.perf_counter() - t0)
        time.sleep(0.002)  # a render loop far faster than the encoder
    rec.close()
    assert worst < 0.005  # push never waits for the encoder
    assert rec.dropped > 20
    assert rec.written == encoder.frames and rec.written + rec.dropped == rec.pushed == 60
    assert encoder.closed


def test_live_recorder_writes_a_real_file(tmp_path):
    rec = Recorder(tmp_path / "live.mp4", (64, 48), 30, queue_size=64)
    for frame in _frames(20):
        rec.push(frame)
    rec.close()
    assert rec.dropped == 0 and rec.written == 20
    assert probe_video(tmp_path / "live.mp4")["frames"] == 20


def test_save_png_round_trip(tmp_path):
    from PIL import Image

    frame = pattern(20, 10)
    save_png(tmp_path / "shot.png", frame)
    assert (np.asarray(Image.open(tmp_path / "shot.png")) == frame).all()


def test_headless_chain_to_video_end_to_end(tmp_path):
    """What `latentperform render` does: surface -> upload -> chain -> read back -> mp4."""
    surface = HeadlessSurface((128, 72))
    chain = ShaderChain(surface.ctx, ["feedback", "grade"], size=surface.size)
    tex = FrameTexture(surface.ctx)
    writer = VideoWriter(tmp_path / "render.mp4", surface.size, 30)
    for k, frame in enumerate(_frames(15, 64, 64)):
        tex.upload(frame)
        chain.render(tex.texture, ParamState(time=k / 30), k / 30, surface.target, surface.viewport())
        writer.write(surface.read_pixels())
        surface.present()
    writer.close()
    surface.close()
    info = probe_video(tmp_path / "render.mp4")
    assert (info["frames"], info["width"], info["height"]) == (15, 128, 72)
