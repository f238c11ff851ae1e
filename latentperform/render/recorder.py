"""Frames to files: H.264 video (offline and live), PNG screenshots, and a probe for tests.

Video goes through the ffmpeg that imageio-ffmpeg bundles: H.264, yuv420p (plays everywhere),
`+faststart` (the index at the front, so a browser can start playing before the end arrives).
With an audio file, the video is written first and then muxed with the audio in a second,
copy-only ffmpeg pass, the audio cut or padded with silence to the video's exact length (and, with
`audio_offset`, started that many seconds into the video, or that many seconds into the sound when
negative: a show's recorded sound starts when its capture did, not when the show did).
"""

from __future__ import annotations

import logging
import os
import queue
import re
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from ..config import UserError

log = logging.getLogger("latentperform.render")


def check_writable(path: str | os.PathLike) -> Path:
    """Refuse an output path that cannot be written, before any rendering starts."""
    p = Path(path)
    if p.is_dir():
        raise UserError(f"cannot write {p}: it is a directory")
    parent = p.parent if str(p.parent) else Path(".")
    if not parent.is_dir():
        raise UserError(f"cannot write {p}: the folder {parent} does not exist")
    if p.exists():
        ok = os.access(p, os.W_OK)
    else:
        ok = os.access(parent, os.W_OK | os.X_OK)
    if not ok:
        raise UserError(f"cannot write {p}: permission denied")
    return p


def save_png(path: str | os.PathLike, pixels: np.ndarray) -> Path:
    """(H, W, 3) uint8, top row first, to a PNG file."""
    from PIL import Image

    p = check_writable(path)
    Image.fromarray(np.asarray(pixels, dtype=np.uint8)).save(p, format="PNG")
    return p


def _ffmpeg() -> str:
    try:
        import imageio_ffmpeg
    except ImportError:
        raise UserError("recording video needs imageio-ffmpeg: pip install imageio-ffmpeg") from None
    return imageio_ffmpeg.get_ffmpeg_exe()


class VideoWriter:
    """Write frames in order to an mp4: `write(pixels)` per frame, then `close()`.

    size        (width, height); every frame must be (height, width, 3) uint8
    audio_path  a sound file muxed in at close; `duration` (seconds) fixes the length the audio
                is cut or padded to (default: frames written / fps)
    audio_offset  seconds into the video where the audio's first sample goes (negative: that
                many seconds of the audio are skipped)
    audio_optional  audio that cannot be read or muxed leaves a silent video, with the reason in
                `audio_error`, instead of a UserError
    crf/preset  x264 quality (lower crf = better, 18 is visually lossless) and speed
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float,
                 audio_path: str | os.PathLike | None = None, crf: int = 18, preset: str = "veryfast",
                 duration: float | None = None, audio_offset: float = 0.0,
                 audio_optional: bool = False) -> None:
        import imageio_ffmpeg

        self.path = check_writable(path)
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.audio_path = Path(audio_path) if audio_path else None
        self.audio_offset = float(audio_offset)
        self.audio_optional = bool(audio_optional)
        self.audio_error: str | None = None
        if self.audio_path is not None and not self.audio_path.is_file():
            message = f"cannot read the audio file {self.audio_path}: no such file"
            if not self.audio_optional:
                raise UserError(message)
            self.audio_error, self.audio_path = message, None
        self.duration = duration
        self.frames = 0
        self._closed = False
        if self.audio_path is not None:
            fd, tmp = tempfile.mkstemp(suffix=".mp4", prefix=".lp-video-", dir=self.path.parent)
            os.close(fd)
            self._video_path = Path(tmp)
        else:
            self._video_path = self.path
        w, h = self.size
        output_params = ["-crf", str(int(crf)), "-preset", preset, "-movflags", "+faststart"]
        if w % 2 or h % 2:  # yuv420p needs even sides: pad one black row/column rather than fail
            output_params += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        self._gen = imageio_ffmpeg.write_frames(
            str(self._video_path), self.size, fps=self.fps, codec="libx264", pix_fmt_in="rgb24",
            pix_fmt_out="yuv420p", quality=None, macro_block_size=1, output_params=output_params,
            ffmpeg_log_level="error")
        self._gen.send(None)  # starts ffmpeg

    def write(self, pixels) -> None:
        array = np.asarray(pixels)
        h, w = array.shape[:2]
        if (w, h) != self.size or array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"frame {array.dtype} {array.shape} does not match the video "
                             f"({self.size[1]}, {self.size[0]}, 3) uint8")
        self._gen.send(np.ascontiguousarray(array))
        self.frames += 1

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._gen.close()
        except Exception as e:
            raise UserError(f"writing {self.path} failed: {e}") from None
        if self.audio_path is not None:
            try:
                self._mux()
            except UserError as e:
                if not self.audio_optional:
                    raise
                self.audio_error = str(e)
                os.replace(self._video_path, self.path)    # the picture is kept, silent
            finally:
                self._video_path.unlink(missing_ok=True)

    def _mux(self) -> None:
        length = self.duration if self.duration is not None else self.frames / self.fps
        seek, filters = [], "apad"
        if self.audio_offset > 0:
            filters = f"adelay=delays={1000 * self.audio_offset:.3f}:all=1,apad"   # milliseconds
        elif self.audio_offset < 0:
            seek = ["-ss", f"{-self.audio_offset:.6f}"]
        cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-i", str(self._video_path), *seek, "-i", str(self.audio_path),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
               "-af", filters, "-t", f"{length:.6f}", "-movflags", "+faststart", str(self.path)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
            raise UserError(f"cannot add the audio of {self.audio_path} to {self.path}: {last}")

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Recorder:
    """Live recording that never holds up the show.

    `push(pixels)` hands the frame to an encoder thread through a bounded queue and returns at
    once; when the encoder falls behind and the queue is full, the frame is dropped and counted
    in `dropped`.  The frame array is not copied: don't change it after pushing it.
    `encoder` (tests, other sinks): any object with write(pixels) and close().
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float, *, queue_size: int = 8,
                 encoder=None, crf: int = 20, preset: str = "ultrafast") -> None:
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self._encoder = encoder if encoder is not None else VideoWriter(path, size, fps, crf=crf, preset=preset)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.pushed = 0
        self.written = 0
        self.dropped = 0
        self.error: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lp-recorder", daemon=True)
        self._thread.start()

    def push(self, pixels: np.ndarray) -> bool:
        """Queue a frame; False when it was dropped (encoder behind, or failed)."""
        if self._closed:
            return False
        self.pushed += 1
        if self.error is not None:
            self.dropped += 1
            return False
        try:
            self._queue.put_nowait(pixels)
            return True
        except queue.Full:
            self.dropped += 1
            return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            try:
                self._encoder.write(item)
                self.written += 1
            except Exception as e:  # the show goes on; the error is shown and no more is written
                self.error = f"recording to {self.path} failed: {e}"
                log.warning("%s", self.error)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then finish the file."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        while True:  # the sentinel must get in even when the queue is full
            try:
                self._queue.put(None, timeout=0.1)
                break
            except queue.Full:
                if time.monotonic() > deadline:
                    break
        self._thread.join(max(0.0, deadline - time.monotonic()))
        self._encoder.close()


_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):([\d.]+)")
_VIDEO = re.compile(r"Stream #.*Video:.*?(\d{2,5})x(\d{2,5})")
_FPS = re.compile(r"([\d.]+)\s+fps")


def probe_video(path: str | os.PathLike) -> dict:
    """What is in a video file: frames, fps, duration (s), width, height, has_audio."""
    import imageio_ffmpeg

    res = subprocess.run([_ffmpeg(), "-hide_banner", "-i", str(path)], capture_output=True, text=True)
    info = res.stderr
    if "Invalid data" in info or "No such file" in info:
        raise UserError(f"cannot read the video {path}: {info.strip().splitlines()[-1]}")
    out: dict = {"has_audio": bool(re.search(r"Stream #.*Audio:", info))}
    m = _DURATION.search(info)
    out["duration"] = int(m.group(1)) * 3600 + int(m.group(2)) * 60 + float(m.group(3)) if m else None
    m = _VIDEO.search(info)
    out["width"], out["height"] = (int(m.group(1)), int(m.group(2))) if m else (None, None)
    video_line = next((ln for ln in info.splitlines() if "Video:" in ln), "")
    m = _FPS.search(video_line)
    out["fps"] = float(m.group(1)) if m else None
    frames, _secs = imageio_ffmpeg.count_frames_and_secs(str(path))
    out["frames"] = int(frames)
    return out
