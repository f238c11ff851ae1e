"""Live audio in: the sound card through the same AudioAnalyzer that offline renders use, as
ControlEvents on a queue.

Addresses: those of `latentperform.features.frame_events`: audio/level, audio/bass, audio/mid,
audio/high, audio/onset, audio/centroid, audio/percussive, audio/harmonic, audio/beat_phase,
audio/tempo, audio/chroma/<i> on every analysis frame (~94 a second), and the triggers
audio/onset_event and audio/beat (value 1) on the frames where they fall.  An event's time is the
engine clock time at which the sound card handed over the block that completed its frame.

Why a capture process: PortAudio lists devices once, when it starts, and cannot be restarted
safely in a running program (with JACK, closing a stream whose server has gone, or restarting
PortAudio, aborts the whole process).  So the device is opened by a small child process
(`python -m latentperform.inputs.audio --capture ...`): its PortAudio callback only copies each
block and its arrival time into a bounded ring; a writer thread sends the blocks (mono float32)
down a pipe.  Here, a reader thread takes them off the pipe and the analysis thread runs the
analyzer and puts the events on the queue.  A device that is missing, or stops delivering (unplugged,
JACK server gone, the child died), is reported once (`error`, `status`, one log line), the features
fall to silence, and a fresh child with a fresh device list tries again every `retry_s`.

With `record_to`, the sound itself is kept too (`SoundRecorder`): the analysis thread hands each
block, stamped with the engine time of its first sample, to a writer thread through a bounded queue
(never waiting: a full queue drops the block, which becomes silence), and the writer puts it in a
sound file whose timeline is the show's: time lost to a device that went away, or to dropped
blocks, is written as silence; a write error (a full disk) is reported once and recording stops,
the show goes on.  `on_record(path, t0, sample_rate)` is called once the time of the first sample
is known (a second into the recording: the event log notes where the sound is and that time).

Time stamps cross the process boundary as `time.perf_counter()` readings: a system-wide monotonic
clock on Linux, macOS and Windows.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue as queue_module
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

from ..clock import WallClock
from ..events import EventQueue
from ..features import AudioAnalyzer, frame_events

log = logging.getLogger("latentperform.inputs.audio")

# a block on the pipe: arrival perf_counter (f64), sample count, input overflows and blocks dropped
# since the last block (u32 each), then that many float32 samples
_HEADER = struct.Struct("<dIII")
_PACKAGE_ROOT = str(Path(__file__).resolve().parents[2])


class AudioInput:
    """Capture from a sound card and put feature events on `queue`.

    device       None (the default input), a name (exact, else a unique substring), or an index
    sample_rate  None: the device's default rate
    channels     how many channels to open (None: up to 2 of the device's)
    channel      None: mix the opened channels to mono; an index: use that channel only
    blocksize    frames per PortAudio callback (latency vs. overhead)
    retry_s      how often a missing device is looked for again
    stall_s      a device that delivers nothing for this long is taken as gone
    record_to    a sound file (.flac, .wav...) to record what is heard to (see SoundRecorder);
                 on_record / on_record_error are SoundRecorder's on_start / on_error
    """

    def __init__(self, queue: EventQueue, clock=None, device: int | str | None = None,
                 sample_rate: float | None = None, channels: int | None = None,
                 channel: int | None = None, blocksize: int = 256, hop: int | None = None,
                 bands: dict[str, tuple[float, float]] | None = None, retry_s: float = 2.0,
                 stall_s: float = 0.5, open_timeout_s: float = 10.0,
                 record_to: str | os.PathLike | None = None, on_record=None, on_record_error=None) -> None:
        self.queue = queue
        self.clock = clock if clock is not None else WallClock()
        self.device = device
        self.requested_rate = sample_rate
        self.requested_channels = channels
        self.channel = channel
        self.blocksize = int(blocksize)
        self.hop = hop
        self.bands = bands
        self.retry_s = float(retry_s)
        self.stall_s = float(stall_s)
        self.open_timeout_s = float(open_timeout_s)

        self.error: str | None = None
        self.device_name: str | None = None
        self.sample_rate: float | None = None
        self.analyzer: AudioAnalyzer | None = None
        self.latest = None                 # the newest FeatureFrame, for a HUD
        self.overflows = 0                 # blocks PortAudio flagged as input overflow
        self.dropped_blocks = 0            # blocks lost because analysis fell behind
        self.frames = 0                    # analysis frames made
        self.opens = 0                     # successful (re)opens
        # seconds from a block's arrival at the sound card callback to its events being queued
        self.delays: collections.deque[float] = collections.deque(maxlen=1000)
        self._status = "audio: starting"
        self.recorder: SoundRecorder | None = None
        self._fresh = True
        if record_to is not None:
            self.recorder = SoundRecorder(record_to, on_start=on_record, on_error=on_record_error)

        self._child: subprocess.Popen | None = None
        self._blocks: queue_module.Queue = queue_module.Queue()
        self._stop = threading.Event()
        self._last_block = 0.0
        self._thread = threading.Thread(target=self._run, name="audio-analysis", daemon=True)
        self._thread.start()

    # ------------------------------------------------------------------ state

    @property
    def status(self) -> str:
        return self._status

    @property
    def connected(self) -> bool:
        return self._child is not None and self.error is None

    def delay_ms(self, quantile: float = 0.5) -> float | None:
        """Callback-to-queue delay of recent blocks (pipe + analysis), in ms; None before any."""
        if not self.delays:
            return None
        return 1000.0 * float(np.quantile(np.array(self.delays), quantile))

    def _set_status(self, text: str, error: bool) -> None:
        self.error = text if error else None
        if text != self._status:
            self._status = text
            log.log(logging.WARNING if error else logging.INFO, "%s", text)

    # ------------------------------------------------------------------ the analysis thread

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as e:  # a bug here must not pass silently: say so, stop capturing
            log.exception("audio analysis failed")
            self._set_status(f"audio: analysis failed ({e!r}); audio input stopped", error=True)
            self._kill_child()

    def _loop(self) -> None:
        next_try = 0.0
        while not self._stop.is_set():
            if self._child is None:
                if time.perf_counter() >= next_try:
                    self._open()
                    next_try = time.perf_counter() + self.retry_s
                if self._child is None:
                    self._stop.wait(min(0.1, self.retry_s))
                    continue
            try:
                item = self._blocks.get(timeout=0.05)
            except queue_module.Empty:
                item = None
            while item is not None:
                if item is _EOF:
                    break
                arrived, overflows, dropped, samples = item
                self.overflows += overflows
                self.dropped_blocks += dropped
                self._last_block = time.perf_counter()
                self._analyse(samples, arrived)
                if self.recorder is not None:
                    # the block's samples end as the callback gets them: its first sounded before
                    self.recorder.push(self._clock_time(arrived) - len(samples) / self.sample_rate,
                                       samples, self.sample_rate, fresh=self._fresh or dropped > 0)
                self._fresh = False
                try:
                    item = self._blocks.get_nowait()
                except queue_module.Empty:
                    item = None
            if self._stop.is_set():
                break
            if item is _EOF or time.perf_counter() - self._last_block > self.stall_s:
                self._lose(f"audio: {self.device_name!r} stopped delivering sound; "
                           f"retrying every {self.retry_s:g} s")
                next_try = time.perf_counter() + self.retry_s

    def _analyse(self, mono: np.ndarray, arrived: float) -> None:
        frames = self.analyzer.process(mono)
        if not frames:
            return
        t = self._clock_time(arrived)
        for frame in frames:
            for event in frame_events(frame.values(), t):
                self.queue.put(event)
        self.delays.append(time.perf_counter() - arrived)
        self.frames += len(frames)
        self.latest = frames[-1]

    def _clock_time(self, perf: float) -> float:
        convert = getattr(self.clock, "to_clock_time", None)
        if convert is not None:
            return float(convert(perf))
        return float(self.clock.now()) - (time.perf_counter() - perf)

    def _lose(self, message: str) -> None:
        self._kill_child()
        self._set_status(message, error=True)
        if self.analyzer is not None:
            # a second of silence through the analyzer: every feature falls to 0 and says so
            self._analyse(np.zeros(int(self.analyzer.sample_rate), np.float32), time.perf_counter())

    # ------------------------------------------------------------------ the capture process

    def _open(self) -> None:
        spec = {"device": self.device, "sample_rate": self.requested_rate,
                "channels": self.requested_channels, "channel": self.channel,
                "blocksize": self.blocksize}
        env = dict(os.environ)
        env["PYTHONPATH"] = _PACKAGE_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        try:
            child = subprocess.Popen([sys.executable, "-m", "latentperform.inputs.audio", "--capture",
                                      json.dumps(spec)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        except OSError as e:
            self._set_status(f"audio: cannot start the capture process: {e}", error=True)
            return
        hello = _read_hello(child, self.open_timeout_s)
        if not hello.get("ok"):
            _end(child)
            message = hello.get("error") or "the capture process ended without a word"
            self._set_status(f"audio: {message}; retrying every {self.retry_s:g} s", error=True)
            return
        rate = float(hello["sample_rate"])
        if self.analyzer is None or self.analyzer.sample_rate != rate:
            self.analyzer = AudioAnalyzer(rate, hop=self.hop, bands=self.bands)
        self._blocks = queue_module.Queue()
        self._last_block = time.perf_counter() + 0.5     # grace for the first block
        threading.Thread(target=_read_blocks, args=(child, self._blocks), name="audio-pipe",
                         daemon=True).start()
        threading.Thread(target=_log_stderr, args=(child,), name="audio-stderr", daemon=True).start()
        self.device_name = hello["device"]
        self.sample_rate = rate
        self._fresh = True                                 # the recording starts a new stream
        self.opens += 1
        mix = "mono mix" if self.channel is None else f"channel {self.channel}"
        self._set_status(f"audio: capturing from {hello['device']!r} ({hello['hostapi']}) at {rate:g} Hz, "
                         f"{hello['channels']} ch ({mix})", error=False)
        self._child = child                                # last: `connected` is true from here

    def _kill_child(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            _end(child)

    # ------------------------------------------------------------------ life

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5.0)
        self._kill_child()
        if self.recorder is not None:
            self.recorder.close()
        self._set_status("audio: closed", error=False)

    def __enter__(self) -> "AudioInput":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


_EOF = object()


class SoundRecorder:
    """Writes stamped blocks of mono sound to a file on a thread of its own, on the show's timeline.

    `push(t, samples, rate, fresh)`: `t` is the engine time of the block's first sample; `fresh`
    says the block does not follow the previous one (a device (re)opened, blocks lost before it).
    It never waits: when the writer is `max_queue_s` of sound behind, the block is dropped (counted
    in `dropped`) and comes out as silence.  The file starts at the first block pushed (`t0`).
    A fresh block goes where its time says: a gap before it (a device that came back, lost blocks)
    is silence.  Within one stream the sound card's sample count is the truth, because a time stamp
    is only ever late (a callback that ran late), never early: silence is put in only when every
    block for `window_s` came more than `tolerance_s` late (a sound card clock slower than the
    computer's), and a block more than `tolerance_s` early (a faster one) loses its overlapping
    start.  A block at another sample rate (a different device after a reconnect) is resampled
    (linearly) to the file's rate.

    The format follows the suffix (soundfile: .flac is 24-bit FLAC, .wav 32-bit float WAV).  A
    file that cannot be written is reported once (`error`, a log line, `on_error(message)`) and
    no more is written; the show goes on.
    """

    def __init__(self, path: str | os.PathLike, *, on_start=None, on_error=None,
                 tolerance_s: float = 0.03, window_s: float = 1.0, max_queue_s: float = 10.0,
                 flush_s: float = 2.0) -> None:
        self.path = Path(path)
        self.on_start = on_start
        self.on_error = on_error
        self.tolerance_s = float(tolerance_s)
        self.window_s = float(window_s)
        self._late: collections.deque = collections.deque()   # (t, seconds late) within one stream
        self._refresh = False       # a block was dropped here: the next one is fresh
        self._t0_pending = False    # t0 not yet settled and said
        self._t0_shift = 0.0
        self.max_queue_s = float(max_queue_s)
        self.flush_s = float(flush_s)
        self.error: str | None = None
        self.t0: float | None = None
        self.sample_rate: float | None = None
        self.written = 0            # samples in the file, silence included
        self.silence = 0            # samples of silence put in for gaps
        self.trimmed = 0            # samples left out because they overlapped what was written
        self.dropped = 0            # blocks dropped because the writer was behind
        self._queued = 0            # samples waiting for the writer
        self._count_lock = threading.Lock()
        self._queue: queue_module.Queue = queue_module.Queue()
        self._file = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="audio-record", daemon=True)
        self._thread.start()

    @property
    def end(self) -> float | None:
        """Engine time just after the last sample written."""
        return None if self.t0 is None else self.t0 + self.written / self.sample_rate

    def push(self, t: float, samples: np.ndarray, rate: float, fresh: bool = False) -> bool:
        if self._closed or self.error is not None:
            return False
        with self._count_lock:
            if self._queued > self.max_queue_s * rate:
                self.dropped += 1
                self._refresh = True
                return False
            self._queued += len(samples)
            fresh, self._refresh = fresh or self._refresh, False
        self._queue.put((float(t), samples, float(rate), fresh))
        return True

    def _run(self) -> None:
        last_flush = time.monotonic()
        while True:
            item = self._queue.get()
            if item is None:
                break
            t, samples, rate, fresh = item
            with self._count_lock:
                self._queued -= len(samples)
            if self.error is not None:
                continue
            try:
                self._write(t, samples, rate, fresh)
                if time.monotonic() - last_flush > self.flush_s:
                    self._file.flush()
                    last_flush = time.monotonic()
            except Exception as e:   # a full disk, a folder gone: say so once, the show goes on
                self._fail(f"audio: recording to {self.path} failed ({e}); the show goes on without it")
        self._finish()

    def _open_file(self, t: float, rate: float) -> None:
        import soundfile as sf
        subtype = "PCM_24" if self.path.suffix.lower() in (".flac", ".ogg") else None
        if self.path.suffix.lower() in (".wav", ".w64", ".aiff", ".aif", ".caf"):
            subtype = "FLOAT"
        self._file = sf.SoundFile(str(self.path), "w", samplerate=int(round(rate)), channels=1,
                                  subtype=subtype)
        self.t0, self.sample_rate = t, float(int(round(rate)))
        self._t0_pending, self._t0_shift = True, 0.0
        log.info("audio: recording to %s", self.path)

    def _settle_t0(self) -> None:
        """The first block's stamp may be late like any other: after the first window (or at the
        end of the first stream) t0 is moved back by the most any block of it came early, then
        said (`on_start`)."""
        if not self._t0_pending:
            return
        self._t0_pending = False
        self.t0 += self._t0_shift
        self._late.clear()
        if self.on_start is not None:
            self.on_start(self.path, self.t0, self.sample_rate)

    def _write(self, t: float, samples: np.ndarray, rate: float, fresh: bool = False) -> None:
        if self._file is None:
            self._open_file(t, rate)
        sr = self.sample_rate
        if abs(rate - sr) > 0.5 and len(samples):
            n = max(1, int(round(len(samples) * sr / rate)))
            samples = np.interp(np.arange(n) * (rate / sr), np.arange(len(samples)),
                                samples).astype(np.float32)
        late = t - self.end
        if self._t0_pending:
            if fresh or t - self.t0 >= self.window_s:
                self._settle_t0()
                late = t - self.end
            else:  # within the first stream's first window: the file is right, t0 may not be
                self._t0_shift = min(self._t0_shift, late)
                if len(samples):
                    self._put(np.asarray(samples, dtype=np.float32))
                return
        if fresh:
            self._late.clear()
        else:
            self._late.append((t, late))
            while self._late and self._late[0][0] < t - self.window_s:
                self._late.popleft()
            # late by at least this much for a whole window: the file is behind, not the stamps
            if self._late[0][0] <= t - 0.9 * self.window_s:
                late = min(x for _, x in self._late)
            else:
                late = min(late, 0.0)
        gap = int(round(late * sr))
        tol = int(self.tolerance_s * sr)
        if gap > tol:
            self._put(np.zeros(gap, np.float32))
            self.silence += gap
            self._late.clear()
        elif gap < -tol:
            cut = min(-gap, len(samples))
            samples = samples[cut:]
            self.trimmed += cut
            self._late.clear()
        if len(samples):
            self._put(np.asarray(samples, dtype=np.float32))

    def _put(self, samples: np.ndarray) -> None:
        for k in range(0, len(samples), 1 << 20):      # long silences in pieces
            self._file.write(samples[k:k + (1 << 20)])
        self.written += len(samples)

    def _fail(self, message: str) -> None:
        if self.error is None:
            self.error = message
            log.warning("%s", message)
            if self.on_error is not None:
                try:
                    self.on_error(message)
                except Exception:
                    pass

    def _finish(self) -> None:
        f, self._file = self._file, None
        if f is None:
            return
        try:    # (after a write error too: what was written before it is worth having)
            self._settle_t0()
        except Exception as e:
            self._fail(f"audio: noting the recording {self.path} failed ({e})")
        try:
            f.close()
        except Exception as e:
            self._fail(f"audio: finishing the recording {self.path} failed ({e})")

    def close(self, timeout: float = 30.0) -> None:
        """Write what is queued, then close the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(None)
        self._thread.join(timeout)


def _read_exact(stream, n: int) -> bytes | None:
    data = b""
    while len(data) < n:
        chunk = stream.read(n - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_hello(child: subprocess.Popen, timeout: float) -> dict:
    """The child's first line (JSON), or an error dict if it says nothing in time."""
    box: list[bytes] = []
    reader = threading.Thread(target=lambda: box.append(child.stdout.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box:
        return {"ok": False, "error": f"the capture process did not answer within {timeout:g} s"}
    try:
        return json.loads(box[0].decode())
    except (ValueError, UnicodeDecodeError):
        err = child.stderr.read().decode(errors="replace").strip().splitlines() if child.poll() is not None else []
        return {"ok": False, "error": "the capture process failed" + (f": {err[-1]}" if err else "")}


def _read_blocks(child: subprocess.Popen, out: queue_module.Queue) -> None:
    stream = child.stdout
    while True:
        header = _read_exact(stream, _HEADER.size)
        if header is None:
            break
        arrived, count, overflows, dropped = _HEADER.unpack(header)
        payload = _read_exact(stream, 4 * count)
        if payload is None:
            break
        out.put((arrived, overflows, dropped, np.frombuffer(payload, dtype=np.float32)))
    out.put(_EOF)


def _log_stderr(child: subprocess.Popen) -> None:
    for line in child.stderr:
        text = line.decode(errors="replace").rstrip()
        if text:
            log.debug("capture process: %s", text)


def _end(child: subprocess.Popen) -> None:
    for step in (lambda: child.stdin.close(), child.terminate, child.kill):
        try:
            step()
            child.wait(1.0)
            return
        except (OSError, ValueError, subprocess.TimeoutExpired):
            continue


# ---------------------------------------------------------------------------------- the child side

def _resolve(sd, wanted) -> tuple[int, dict]:
    """The input device to open, or raise LookupError with a message for the user."""
    apis = sd.query_hostapis()
    devices = [(i, d) for i, d in enumerate(sd.query_devices()) if d["max_input_channels"] > 0]
    if not devices:
        raise LookupError("no audio input device found (PortAudio sees none)")
    listing = ", ".join(f"{i}: {d['name']} ({apis[d['hostapi']]['name']})" for i, d in devices)
    indices = [i for i, _ in devices]
    if wanted is None:
        default = sd.default.device[0]
        index = default if isinstance(default, int) and default in indices else indices[0]
    elif isinstance(wanted, int) or str(wanted).isdigit():
        index = int(wanted)
        if index not in indices:
            raise LookupError(f"audio input device {index} not found (inputs now: {listing})")
    else:
        exact = [i for i, d in devices if d["name"] == wanted]
        partial = [i for i, d in devices if str(wanted).lower() in d["name"].lower()]
        if exact:
            index = exact[0]
        elif len(partial) == 1:
            index = partial[0]
        elif partial:
            raise LookupError(f"audio input device {wanted!r} is ambiguous (inputs now: {listing})")
        else:
            raise LookupError(f"audio input device {wanted!r} not found (inputs now: {listing})")
    return index, sd.query_devices(index)


def _capture_main(spec: dict) -> None:
    """Open the device, then send blocks to stdout until the device stops, or stdin closes."""
    out = sys.stdout.buffer

    def hello(**kw) -> None:
        out.write((json.dumps(kw) + "\n").encode())
        out.flush()

    try:
        import sounddevice as sd
    except OSError as e:  # the wheel is there but the system PortAudio library is not
        hello(ok=False, error=f"PortAudio is not installed (apt-get install libportaudio2 / "
                              f"brew install portaudio): {e}")
        return
    try:
        index, info = _resolve(sd, spec.get("device"))
    except LookupError as e:
        hello(ok=False, error=str(e))
        return
    rate = float(spec.get("sample_rate") or info["default_samplerate"])
    channels = int(spec.get("channels") or min(2, info["max_input_channels"]))
    channel = spec.get("channel")
    if channel is not None and not 0 <= channel < channels:
        hello(ok=False, error=f"channel {channel} does not exist on {info['name']!r} ({channels} open)")
        return

    ring: collections.deque = collections.deque(maxlen=max(4, int(2.0 * rate / spec["blocksize"])))
    wake = threading.Event()
    state = {"overflow": 0, "dropped": 0}

    def callback(indata, frames, time_info, status):
        # only copy and wake: the writer thread does everything else
        if status and status.input_overflow:
            state["overflow"] += 1
        if len(ring) == ring.maxlen:
            state["dropped"] += 1
        ring.append((time.perf_counter(), indata.copy()))
        wake.set()

    try:
        stream = sd.InputStream(device=index, channels=channels, samplerate=rate, dtype="float32",
                                blocksize=spec["blocksize"], callback=callback)
        stream.start()
    except Exception as e:
        hello(ok=False, error=f"cannot open {info['name']!r} at {rate:g} Hz: {e}")
        return
    hello(ok=True, device=info["name"], hostapi=sd.query_hostapis(info["hostapi"])["name"],
          sample_rate=rate, channels=channels)

    def watch_parent() -> None:
        sys.stdin.buffer.read()       # returns when the parent closes the pipe or dies
        wake.set()
        state["parent_gone"] = True

    threading.Thread(target=watch_parent, daemon=True).start()
    while not state.get("parent_gone"):
        wake.wait(0.1)
        wake.clear()
        if not stream.active:
            print("audio: the stream stopped", file=sys.stderr, flush=True)
            break
        while ring:
            arrived, block = ring.popleft()
            mono = block[:, channel] if channel is not None else block.mean(axis=1)
            overflows, dropped = state["overflow"], state["dropped"]
            state["overflow"] -= overflows
            state["dropped"] -= dropped
            try:
                out.write(_HEADER.pack(arrived, len(mono), overflows, dropped))
                out.write(np.ascontiguousarray(mono, dtype=np.float32).tobytes())
                out.flush()
            except (BrokenPipeError, OSError):
                state["parent_gone"] = True
                break



# -- the input kind's face (inputs/kinds.py) -------------------------------------------------------

LABEL = "Audio inputs"


def list_devices() -> list[str]:
    import sounddevice as sd
    lines = [f"[{i}] {d['name']} ({d['max_input_channels']} ch, {d['default_samplerate']:.0f} Hz)"
             for i, d in enumerate(sd.query_devices()) if d.get("max_input_channels", 0) > 0]
    return lines or ["(no audio inputs)"]


def open_inputs(section, queue: EventQueue, clock, **record) -> list:
    """The sound-card input of the patch's [inputs.audio]; `record`: AudioInput's record_to,
    on_record, on_record_error (the sound logged beside an event log)."""
    return [AudioInput(queue, clock=clock, device=section.device, sample_rate=section.samplerate,
                       channel=section.channel, blocksize=section.blocksize, **record)]


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--capture":
        try:
            _capture_main(json.loads(sys.argv[2]))
        finally:
            # never run PortAudio's exit handlers: with a JACK server gone they abort
            try:
                sys.stdout.flush()
            except Exception:
                pass
            os._exit(0)
    print("usage: python -m latentperform.inputs.audio --capture JSON (started by AudioInput)",
          file=sys.stderr)
    sys.exit(2)
