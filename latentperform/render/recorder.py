"""Frames to files: H.264 video (offline and live), PNG screenshots, and a probe for tests.

Video goes through the ffmpeg that imageio-ffmpeg bundles: H.264, yuv420p (plays everywhere),
`+faststart` (the index at the front, so a browser can start playing before the end arrives).
With an audio file, the video is written first and then muxed with the audio in a second,
copy-only ffmpeg pass, the audio cut or padded with silence to the video's exact length (and, with
`audio_offset`, started that many seconds into the video, or that many seconds into the sound when
negative: a show's recorded sound starts when its capture did, not when the show did).
"""

from __future__ import annotations

import atexit
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


VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv")
_UMASK = os.umask(0o022)
os.umask(_UMASK)
_TEMPS: set[Path] = set()  # temporary files not yet renamed or removed (removed at exit at the latest)


def check_video_path(path: str | os.PathLike) -> Path:
    """Refuse, before rendering, a video path that cannot be written or has an extension the
    encoder cannot write H.264 into."""
    p = check_writable(path)
    if p.suffix.lower() not in VIDEO_SUFFIXES:
        raise UserError(f"cannot write {p}: a video needs one of the extensions {', '.join(VIDEO_SUFFIXES)} "
                        f"(got {p.suffix or 'none'!r})")
    return p


def check_sound_file(path: str | os.PathLike) -> str | None:
    """Why a sound file cannot be the soundtrack (None when it can): missing, unreadable, or
    holding NaN / infinite samples (the encoder fails on them after every frame is rendered)."""
    import soundfile as sf

    p = Path(path)
    if not p.is_file():
        return f"cannot read the audio file {p}: no such file"
    try:
        with sf.SoundFile(str(p)) as f:
            for block in f.blocks(blocksize=1 << 16, dtype="float32", always_2d=True):
                if not np.isfinite(block).all():
                    return f"the audio file {p} holds NaN or infinite samples"
    except Exception as e:  # noqa: BLE001 - libsndfile's errors vary: one line whatever it says
        reason = (str(e).strip().splitlines() or ["unreadable"])[-1]
        return f"cannot read the audio file {p}: {reason}"
    return None


def _temp_beside(path: Path, tag: str) -> Path:
    fd, tmp = tempfile.mkstemp(suffix=path.suffix, prefix=f".{path.stem}.{tag}-", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp)
    os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes it private; the video gets a normal file's mode
    _TEMPS.add(tmp)
    return tmp


def _remove(path: Path) -> None:
    try:
        path.unlink(missing_ok=True)
    except OSError:
        pass
    _TEMPS.discard(path)


@atexit.register
def _remove_leftover_temps() -> None:
    for tmp in list(_TEMPS):
        _remove(tmp)


class VideoWriter:
    """Write frames in order to an mp4: `write(pixels)` per frame, then `close()`.

    Nothing is written to `path` until `close()` succeeds: frames go to a temporary file beside
    it (same folder, so the final rename is atomic), the sound is muxed into a second one, and
    only the finished file replaces `path`.  A failure (a full disk, a sound the encoder
    refuses, an exception in the caller: `abort()`, or leaving a `with` block by an exception)
    leaves `path` as it was and removes the temporary files.

    size        (width, height); every frame must be (height, width, 3) uint8
    audio_path  a sound file muxed in at close; `duration` (seconds) fixes the length the audio
                is cut or padded to (default: frames written / fps).  It is checked up front
                (readable, finite samples), before any frame is rendered
    audio_offset  seconds into the video where the audio's first sample goes (negative: that
                many seconds of the audio are skipped)
    audio_optional  audio that cannot be read or muxed leaves a silent video, with the reason in
                `audio_error`, instead of a UserError
    crf/preset  x264 quality (lower crf = better, 18 is visually lossless) and speed
    keep_partial  (live recordings) a fragmented mp4, a keyframe every second: when writing fails
                half way (a full disk), what was written up to the last whole second is still a
                playable video, and it is put at `path` (`partial` says so) instead of removed
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float,
                 audio_path: str | os.PathLike | None = None, crf: int = 18, preset: str = "veryfast",
                 duration: float | None = None, audio_offset: float = 0.0,
                 audio_optional: bool = False, keep_partial: bool = False) -> None:
        self.path = check_video_path(path)
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self.audio_path = Path(audio_path) if audio_path else None
        self.audio_offset = float(audio_offset)
        self.audio_optional = bool(audio_optional)
        self.audio_error: str | None = None
        if self.audio_path is not None:
            problem = check_sound_file(self.audio_path)
            if problem is not None:
                if not self.audio_optional:
                    raise UserError(problem)
                self.audio_error, self.audio_path = problem, None
        self.duration = duration
        self.frames = 0
        self.keep_partial = bool(keep_partial) and self.audio_path is None
        self.partial = False
        self._closed = False
        self._video_path = _temp_beside(self.path, "video")
        w, h = self.size
        flags = ["-movflags", "+faststart"]
        if self.keep_partial:
            flags = ["-movflags", "+frag_keyframe+empty_moov+default_base_moof", "-g", str(max(1, round(self.fps)))]
        output_params = ["-crf", str(int(crf)), "-preset", preset, *flags]
        if w % 2 or h % 2:  # yuv420p needs even sides: pad one black row/column rather than fail
            output_params += ["-vf", "pad=ceil(iw/2)*2:ceil(ih/2)*2"]
        try:
            self._gen = _Encoder(self._video_path, self.size, self.fps, output_params)
        except Exception as e:
            _remove(self._video_path)
            raise UserError(f"cannot write {self.path}: {_reason(e)}") from None

    def write(self, pixels) -> None:
        array = np.asarray(pixels)
        h, w = array.shape[:2]
        if (w, h) != self.size or array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
            raise ValueError(f"frame {array.dtype} {array.shape} does not match the video "
                             f"({self.size[1]}, {self.size[0]}, 3) uint8")
        try:
            self._gen.write(np.ascontiguousarray(array))
        except Exception as e:  # ffmpeg died: a full disk, a file-size limit, a vanished folder
            reason = _reason(e, self._video_path)
            if self.keep_partial and self._keep_what_was_written():
                raise UserError(f"writing {self.path} failed after {self.frames} frames: {reason}; "
                                f"the video up to then is in {self.path}") from None
            self.abort()
            raise UserError(f"writing {self.path} failed: {reason}; {self.path} was left as it was") from None
        self.frames += 1

    def _keep_what_was_written(self) -> bool:
        """A fragmented recording that failed: the fragments on disk replace `path`."""
        self._closed = True
        self._gen.kill()
        try:
            if self._video_path.stat().st_size == 0:
                return False
            self._install(self._video_path)
        except (OSError, UserError):
            return False
        self.partial = True
        return True

    def abort(self) -> None:
        """Give up: stop the encoder, remove the temporary files, leave `path` alone."""
        if self._closed:
            return
        self._closed = True
        self._gen.kill()
        _remove(self._video_path)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            try:
                self._gen.close()
            except Exception as e:
                raise UserError(f"writing {self.path} failed: {_reason(e, self._video_path)}; "
                                f"{self.path} was left as it was") from None
            if self.audio_path is None:
                self._install(self._video_path)
                return
            muxed = _temp_beside(self.path, "mux")
            try:
                self._mux(muxed)
                self._install(muxed)
            except UserError as e:
                if not self.audio_optional:
                    raise
                self.audio_error = str(e)
                self._install(self._video_path)    # the picture is kept, silent
            finally:
                _remove(muxed)
        finally:
            _remove(self._video_path)

    def _install(self, finished: Path) -> None:
        try:
            os.replace(finished, self.path)
        except OSError as e:
            raise UserError(f"cannot write {self.path}: {e.strerror}") from None
        _TEMPS.discard(finished)

    def _mux(self, out: Path) -> None:
        length = self.duration if self.duration is not None else self.frames / self.fps
        seek, filters = [], "apad"
        if self.audio_offset > 0:
            filters = f"adelay=delays={1000 * self.audio_offset:.3f}:all=1,apad"   # milliseconds
        elif self.audio_offset < 0:
            seek = ["-ss", f"{-self.audio_offset:.6f}"]
        cmd = [_ffmpeg(), "-y", "-loglevel", "error", "-i", str(self._video_path), *seek, "-i", str(self.audio_path),
               "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac", "-b:a", "192k",
               "-af", filters, "-t", f"{length:.6f}", "-movflags", "+faststart", str(out)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            last = (res.stderr.strip().splitlines() or ["ffmpeg failed"])[-1]
            raise UserError(f"cannot add the audio of {self.audio_path} to {self.path}: {last}")

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *exc) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


class _Encoder:
    """ffmpeg reading raw RGB frames on stdin and writing H.264.  Unlike imageio-ffmpeg's
    write_frames, `close()` checks how ffmpeg ended: killed for a file-size limit or failing on
    a full disk, it leaves a truncated file and must not count as a success."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, output_params: list[str]) -> None:
        from fractions import Fraction

        w, h = size
        rate = str(Fraction(fps).limit_denominator())
        cmd = [_ffmpeg(), "-y", "-f", "rawvideo", "-vcodec", "rawvideo", "-s", f"{w}x{h}", "-pix_fmt", "rgb24",
               "-r", rate, "-i", "-", "-an", "-vcodec", "libx264", "-pix_fmt", "yuv420p", *output_params,
               "-v", "error", str(path)]
        self._proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                      start_new_session=True)  # Ctrl-C stops the show, not the encoder
        self._errors: list[str] = []
        self._reader = threading.Thread(target=self._read_errors, name="lp-ffmpeg-stderr", daemon=True)
        self._reader.start()

    def _read_errors(self) -> None:
        for raw in self._proc.stderr:
            line = raw.decode("utf-8", "replace").strip()
            if line:
                self._errors = (self._errors + [line])[-5:]

    def _failure(self) -> str:
        rc = self._proc.returncode
        if self._errors:
            return self._errors[-1]
        if rc is not None and rc < 0:
            import signal
            try:
                name = signal.Signals(-rc).name
            except ValueError:
                name = str(-rc)
            return "the file size limit was reached" if name == "SIGXFSZ" else f"ffmpeg was killed ({name})"
        return f"ffmpeg ended with status {rc}"

    def write(self, data: np.ndarray) -> None:
        try:
            self._proc.stdin.write(memoryview(data).cast("B"))
        except (BrokenPipeError, OSError, ValueError):
            self._proc.wait()
            self._reader.join(1.0)
            raise OSError(self._failure()) from None

    def close(self) -> None:
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        rc = self._proc.wait()
        self._reader.join(1.0)
        if rc != 0:
            raise OSError(self._failure())

    def kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        try:
            self._proc.stdin.close()
        except OSError:
            pass
        self._proc.wait()


def _reason(e: BaseException, written: Path | None = None) -> str:
    """One line for an encoder failure; a full disk or a file-size limit is named as such."""
    import errno as _errno
    import shutil

    if written is not None:
        try:
            if shutil.disk_usage(written.parent).free < (1 << 20):
                return "no space left on the disk"
        except OSError:
            pass
    if isinstance(e, OSError) and e.errno in (_errno.ENOSPC, _errno.EFBIG, _errno.EDQUOT):
        return e.strerror or str(e)
    text = str(e).strip().splitlines()
    return (text[-1] if text else type(e).__name__)[:300]


class Recorder:
    """Live recording that never holds up the show.

    `push(pixels)` hands the frame to an encoder thread through a bounded queue and returns at
    once; when the encoder falls behind and the queue is full, the frame is dropped and counted
    in `dropped`.  The frame array is not copied: don't change it after pushing it.
    `encoder` (tests, other sinks): any object with write(pixels) and close().

    keep_time  (live shows) the video lasts as long as the show, whatever the tick did: each push
               is placed at its time on `clock` (time.monotonic by default), and when ticks came
               late (a stall, a slow frame) or frames were dropped, the picture that was on
               screen meanwhile (the previous one) is written again to fill the gap (`repeated`
               counts those); a push earlier than the next frame's
               time is left out (`skipped`).  close() fills up to the moment it is called.  So
               `written / fps` is the show's length, and a sound recorded beside it stays in step.
               Without it, every pushed frame is one video frame (offline, tests).
    """

    def __init__(self, path: str | os.PathLike, size: tuple[int, int], fps: float, *, queue_size: int = 8,
                 encoder=None, crf: int = 20, preset: str = "ultrafast", keep_time: bool = False,
                 clock=time.monotonic) -> None:
        self.path = Path(path)
        self.size = (int(size[0]), int(size[1]))
        self.fps = float(fps)
        self._encoder = encoder if encoder is not None else VideoWriter(path, size, fps, crf=crf, preset=preset,
                                                                        keep_partial=True)
        self._queue: queue.Queue = queue.Queue(maxsize=queue_size)
        self.keep_time = bool(keep_time)
        self._clock = clock
        self._t0: float | None = None
        self._accounted = 0  # video frames queued so far (pictures x their repeat counts)
        self._last = None
        self.pushed = 0
        self.written = 0
        self.dropped = 0
        self.repeated = 0
        self.skipped = 0
        self.error: str | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="lp-recorder", daemon=True)
        self._thread.start()

    def push(self, pixels: np.ndarray, t: float | None = None) -> bool:
        """Queue a frame (at time `t` on the clock, default now, when keeping time); False when it
        was dropped (encoder behind, or failed) or, keeping time, left out as early."""
        if self._closed:
            return False
        self.pushed += 1
        if self.error is not None:
            self.dropped += 1
            return False
        count = 1
        if self.keep_time:
            now = self._clock() if t is None else t
            if self._t0 is None:
                self._t0 = now
            # how many frames the video is behind the show at this push; a tick's jitter (under a
            # frame either way) changes nothing, so an evenly paced show is recorded 1:1
            lag = (now - self._t0) * self.fps - self._accounted
            if lag < -1.0 - 1e-6:  # more than a frame ahead of the show's time: leave this one out
                self.skipped += 1
                return False
            count = 1 + max(0, int(lag + 1e-6))
        try:  # a gap is the picture that was on screen, held: the previous one, repeated
            self._queue.put_nowait((self._last if count > 1 else None, count - 1, pixels))
        except queue.Full:
            self.dropped += 1  # keeping time, the next picture fills its place
            return False
        self._accounted += count
        self.repeated += count - 1
        self._last = pixels
        return True

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self.error is not None:
                continue
            held, repeats, pixels = item
            try:
                for _ in range(repeats if held is not None else 0):
                    self._encoder.write(held)
                    self.written += 1
                if held is None and repeats:  # nothing before it to hold (a gap at the start)
                    for _ in range(repeats):
                        self._encoder.write(pixels)
                        self.written += 1
                self._encoder.write(pixels)
                self.written += 1
            except UserError as e:  # the encoder's own one line (a full disk, ffmpeg gone)
                self.error = f"recording stopped: {e}"
                log.warning("%s", self.error)
            except Exception as e:  # the show goes on; the error is shown and no more is written
                self.error = f"recording to {self.path} failed: {e}"
                log.warning("%s", self.error)

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued (keeping time: up to now), then finish the file."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        if self.keep_time and self._t0 is not None and self._last is not None and self.error is None:
            due = int((self._clock() - self._t0) * self.fps + 0.5)
            if due > self._accounted:
                try:
                    self._queue.put((self._last, due - self._accounted - 1, self._last),
                                    timeout=max(deadline - time.monotonic(), 0.1))
                    self.repeated += due - self._accounted
                    self._accounted = due
                except queue.Full:
                    pass
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
