"""A live show with a sound input, logged with `run --log-events`, re-rendered with `render --replay`:
the video carries the sound the show heard, where the show heard it, and the picture the log makes.

The show is the real command line (`python -m latentperform.cli run --headless ...`) capturing from
a JACK dummy server; the click player is tests/inputs/test_audio.py run as a script, connected to
the show's capture ports with `jack_connect` as soon as they appear.  The server is this file's
own, at 1024 frames a cycle: at the 256 of the shared one, a loaded 2-core machine makes the Python
player miss cycles (gaps and jumps in the sound, and onsets the show rightly hears in them).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from latentperform.render import probe_video
from tests.procs import jackd_server, stop

ROOT = Path(__file__).resolve().parents[2]
PLAYER = ROOT / "tests" / "inputs" / "test_audio.py"
BPM = 120
SHOW_S = 7.0

PATCH = """\
[model]
kind = "builtin"
resolution = 32
seed = 0

[output]
size = [64, 48]
fps = 20
shaders = ["grade"]

[inputs.audio]
enabled = true
device = "system"

[inputs.osc]
enabled = false

[[keyframes]]
seed = 3
[[keyframes]]
seed = 11

[[mapping]]
source = "audio/onset"
target = "latent/pulse"
range = [0.0, 1.0]
attack = 0.0
release = 0.25

[[mapping]]
source = "audio/level"
target = "shader/grade/exposure"
range = [-0.5, 1.0]
"""


@pytest.fixture(scope="module")
def jack_server():
    """This file's JACK dummy server (a larger period than the shared one); yields its name."""
    with jackd_server("lprp", period=1024) as name:
        yield name


def _env(server: str | None = None) -> dict:
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    if server is not None:
        env["JACK_DEFAULT_SERVER"] = server
        env["JACK_NO_START_SERVER"] = "1"
    return env


def lp(*args, env=None, timeout=240):
    return subprocess.run([sys.executable, "-m", "latentperform.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=env or _env())


def _jack_inputs(server: str) -> list[str]:
    """Input ports of JACK clients other than the hardware."""
    out = subprocess.run(["jack_lsp", "-p"], capture_output=True, text=True, env=_env(server)).stdout.splitlines()
    return [name.strip() for name, props in zip(out[::2], out[1::2])
            if not name.startswith("system:") and "input" in props]


def _jack_outputs(server: str, client: str) -> list[str]:
    out = subprocess.run(["jack_lsp"], capture_output=True, text=True, env=_env(server)).stdout.splitlines()
    return [p.strip() for p in out if p.startswith(client)]


def decode_audio(path: Path, rate: int = 48000) -> np.ndarray:
    """The video's sound as mono float32 at `rate`, sample 0 = video time 0."""
    import imageio_ffmpeg
    res = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-i", str(path), "-map", "0:a:0",
                          "-ac", "1", "-ar", str(rate), "-f", "f32le", "-"], capture_output=True, check=True)
    return np.frombuffer(res.stdout, np.float32)


def decode_frames(path: Path) -> list[bytes]:
    import imageio_ffmpeg
    gen = imageio_ffmpeg.read_frames(str(path))
    next(gen)
    return [bytes(f) for f in gen]


def click_times(x: np.ndarray, rate: int = 48000) -> np.ndarray:
    """Where the clicks start: the 1 ms envelope crosses 0.15 rising (the tone under them is 0.02),
    at most one per 0.25 s."""
    win = rate // 1000
    env = np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(win) / win, mode="same"))
    above = env > 0.15
    starts = np.flatnonzero(above[1:] & ~above[:-1]) + 1
    out: list[int] = []
    for s in starts:
        if not out or s - out[-1] > 0.25 * rate:
            out.append(int(s))
    return np.array(out) / rate


def dropout_ends(x: np.ndarray, after: float, rate: int = 48000) -> list[float]:
    """Where the sound comes back after a gap of silence (the 5 ms envelope under 0.005, a third
    of the tone) later than `after`: a JACK cycle the player missed."""
    win = rate // 200
    env = np.sqrt(np.convolve(x.astype(np.float64) ** 2, np.ones(win) / win, mode="same"))
    start = int(after * rate) + win
    quiet = env[start:] < 0.005
    ends = np.flatnonzero(quiet[:-1] & ~quiet[1:]) + 1 + start
    return [float(e) / rate for e in ends]


@pytest.fixture(scope="module")
def live_show(jack_server, tmp_path_factory):
    """Run a live show for SHOW_S seconds while the click player plays into its capture."""
    folder = tmp_path_factory.mktemp("show")
    patch = folder / "show.toml"
    patch.write_text(PATCH)
    log = folder / "show.jsonl"
    player = subprocess.Popen([sys.executable, str(PLAYER), "play", str(BPM)], env=_env(jack_server),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert player.stdout.readline().startswith("PLAYING"), player.stderr.read()[-2000:]
        sources = [p for p in _jack_outputs(jack_server, "") if not p.startswith("system:")]
        assert sources, "the player has no JACK output port"
        before = set(_jack_inputs(jack_server))
        connected: list[str] = []

        def wire() -> None:  # connect the player to the show's capture ports as they appear
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and not connected:
                new = [p for p in _jack_inputs(jack_server) if p not in before]
                if new:
                    time.sleep(0.1)
                    for dst in new:
                        for src in sources:
                            subprocess.run(["jack_connect", src, dst], env=_env(jack_server), capture_output=True)
                    connected.extend(new)
                time.sleep(0.05)

        wiring = threading.Thread(target=wire, daemon=True)
        wiring.start()
        r = lp("run", patch, "--headless", "--seconds", SHOW_S, "--no-watch", "--log-events", log,
               env=_env(jack_server), timeout=120)
        wiring.join(5)
    finally:
        stop(player)
    assert r.returncode == 0, r.stderr[-3000:]
    assert connected, "the show's capture ports never appeared: " + r.stderr[-2000:]
    return {"folder": folder, "patch": patch, "log": log, "run": r}


def _log_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _render(live_show, log: Path, out: Path, *extra):
    r = lp("render", live_show["patch"], "--replay", log, "--out", out, "--fps", "20", *extra)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return r


@pytest.fixture(scope="module")
def silent_replay(live_show):
    """The same log with the sound's note taken out: what a replay without audio renders."""
    folder = live_show["folder"]
    plain = folder / "plain.jsonl"
    plain.write_text("".join(json.dumps(row) + "\n" for row in _log_rows(live_show["log"]) if "audio" not in row))
    out = folder / "plain.mp4"
    r = _render(live_show, plain, out)
    return {"out": out, "frames": decode_frames(out), "run": r}


def test_the_live_show_records_its_sound_beside_the_log(live_show):
    import soundfile as sf
    rows = _log_rows(live_show["log"])
    notes = [row["audio"] for row in rows if "audio" in row]
    assert len(notes) == 1, notes
    note = notes[0]
    assert note["path"] == "show.flac" and note["sample_rate"] == 48000
    end = [row["end"] for row in rows if "end" in row]
    assert len(end) == 1 and SHOW_S <= end[0] < SHOW_S + 10.0   # the clock starts before the model loads
    # the capture started after the show did (a child process opens the sound card: 4-8 s on a
    # loaded 2-core machine, in a show whose clock started before the model loaded), and seconds
    # before it ended
    assert 0.0 < note["t0"] < end[0] - 3.0, (note["t0"], end[0])
    info = sf.info(str(live_show["folder"] / "show.flac"))
    assert info.samplerate == 48000 and info.channels == 1
    # the file covers the show from its first sample to the end, within a few blocks
    assert abs(note["t0"] + info.duration - end[0]) < 0.25, (note["t0"], info.duration, end[0])


def test_replay_muxes_the_recorded_sound_where_the_show_heard_it(live_show, silent_replay):
    folder = live_show["folder"]
    out = folder / "replay.mp4"
    r = _render(live_show, live_show["log"], out)
    assert "show.flac" in r.stderr
    rows = _log_rows(live_show["log"])
    end = next(row["end"] for row in rows if "end" in row)
    info = probe_video(out)
    assert info["has_audio"] and info["frames"] == int(round(end * 20))     # the show's length
    x = decode_audio(out)
    assert abs(len(x) / 48000 - end) < 0.1
    heard = np.array([row["t"] for row in rows if row.get("address") == "audio/onset_event"])
    clicks = click_times(x)
    t0 = next(row["audio"]["t0"] for row in rows if "audio" in row)
    assert len(heard) >= 6 and len(clicks) >= 6, (heard, clicks)
    # nothing before the sound was captured; clicks every beat after
    assert clicks.min() >= t0 - 0.01
    assert np.median(np.diff(clicks)) == pytest.approx(60 / BPM, abs=0.01)
    # each onset the show logged has a click in the video within 50 ms (but the one the tone under
    # the clicks makes as the ports are connected, at a random place between clicks), and each
    # click in the video (but one cut at the show's end) was heard by the show
    sound_on = np.flatnonzero(np.abs(x) > 0.01)[0] / 48000
    assert sound_on >= t0 - 0.01
    # the same where the tone comes back after a gap (should the player still miss a JACK cycle)
    comebacks = [sound_on, *dropout_ends(x, sound_on)]
    all_heard = heard
    heard = heard[[all(not (s - 0.05 < t < s + 0.15) for s in comebacks) for t in heard]]
    assert len(heard) >= 6, (all_heard, comebacks)
    off = np.array([np.min(np.abs(clicks - t)) for t in heard])
    signed = np.array([t - clicks[np.argmin(np.abs(clicks - t))] for t in heard])
    print(f"logged onset - click in the video: median {1000 * np.median(signed):+.1f} ms, "
          f"range {1000 * signed.min():+.1f}..{1000 * signed.max():+.1f} ms "
          f"({len(heard)} onsets, {len(clicks)} clicks, sound from {t0:.3f} s, "
          f"{len(comebacks) - 1} gaps in it)")
    assert off.max() < 0.05, (np.round(off, 3), heard, clicks, comebacks)
    unheard = [c for c in clicks if np.min(np.abs(all_heard - c)) >= 0.05 and c < end - 0.1]
    assert unheard == [], (unheard, heard)
    # the picture is the log's, not the sound's: the same frames as a replay without sound
    assert decode_frames(out) == silent_replay["frames"]


def test_a_replay_without_sound_is_silent_as_before(silent_replay):
    info = probe_video(silent_replay["out"])
    assert not info["has_audio"] and info["frames"] > 0
    assert "warning" not in silent_replay["run"].stderr


@pytest.mark.parametrize("case", ["missing", "corrupt"])
def test_sound_that_cannot_be_read_is_one_warning_and_a_silent_video(live_show, silent_replay, tmp_path, case):
    log = tmp_path / "show.jsonl"
    shutil.copy(live_show["log"], log)
    if case == "corrupt":
        (tmp_path / "show.flac").write_bytes(b"fLaC" + b"\x00garbage" * 100)
    out = tmp_path / "o.mp4"
    r = _render(live_show, log, out)
    warnings = [line for line in r.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1 and warnings[0].startswith("latentperform: warning:"), r.stderr
    assert "show.flac" in warnings[0] and "silent" in warnings[0]
    assert not probe_video(out)["has_audio"]
    assert decode_frames(out) == silent_replay["frames"]


def test_audio_flag_overrides_the_recorded_sound(live_show, silent_replay, tmp_path):
    import soundfile as sf
    beep = tmp_path / "beep.wav"
    sr = 48000
    x = np.zeros(sr, np.float32)
    x[: sr // 100] = 0.8                       # one burst at the file's start
    sf.write(beep, x, sr)
    out = tmp_path / "o.mp4"
    _render(live_show, live_show["log"], out, "--audio", beep, "--audio-offset", "1.5")
    y = decode_audio(out)
    assert click_times(y)[0] == pytest.approx(1.5, abs=0.02)
    # --audio with a replay that logged its sound features is the soundtrack only
    assert decode_frames(out) == silent_replay["frames"]


def test_a_soundtrack_ffmpeg_cannot_read_leaves_the_picture_when_it_is_optional(tmp_path):
    from latentperform.config import UserError
    from latentperform.render.recorder import VideoWriter

    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 10)
    frame = np.full((48, 64, 3), 128, np.uint8)
    w = VideoWriter(tmp_path / "o.mp4", (64, 48), 10, audio_path=bad, audio_optional=True)
    for _ in range(5):
        w.write(frame)
    w.close()
    assert w.audio_error and "bad.wav" in w.audio_error
    info = probe_video(tmp_path / "o.mp4")
    assert info["frames"] == 5 and not info["has_audio"]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left
    with pytest.raises(UserError, match="bad.wav"):  # known before a single frame is rendered
        VideoWriter(tmp_path / "s.mp4", (64, 48), 10, audio_path=bad)
    assert not (tmp_path / "s.mp4").exists()
