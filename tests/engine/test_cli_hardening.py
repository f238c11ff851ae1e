"""A show as a hostile or unlucky user meets it (issue 12): hostile OSC over real UDP, kills,
full disks, bad files.  Each runs the real command line in a subprocess."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

ROOT = Path(__file__).resolve().parents[2]


def lp_popen(*args, env=None):
    e = dict(os.environ)
    e.pop("DISPLAY", None)
    e.update(env or {})
    return subprocess.Popen([sys.executable, "-m", "latentperform.cli", *map(str, args)], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e)


def free_udp_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def msg(address, *args) -> bytes:
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build().dgram


def frames_of(stdout: str) -> int:
    m = re.search(r"^(\d+) frames", stdout, re.M)
    assert m, stdout
    return int(m.group(1))


SHOW = ("run", "--headless", "--seconds", "3", "--size", "96x64", "--no-audio", "--no-watch", "--fps", "30")


def test_a_show_keeps_its_frames_while_receiving_thirty_star_patterns():
    """One 40-byte datagram of 30 stars used to hold the whole process for 30 s.  Now a show fed
    ~300 such datagrams a second (each a new pattern, so no cache helps) keeps >= 90 % of the
    frames the same show renders in peace (run just before, so the machine's load is alike)."""
    port = free_udp_port()
    base = lp_popen(*SHOW, "--osc-port", port)
    out, err = base.communicate(timeout=120)
    assert base.returncode == 0, err
    peaceful = frames_of(out)

    port = free_udp_port()
    show = lp_popen(*SHOW, "--osc-port", port)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sent = 0
    while show.poll() is None:
        data = msg("/lp/" + "*" * 30 + f"{sent}x", 1.0)
        s.sendto(data, ("127.0.0.1", port))
        sent += 1
        time.sleep(0.003)
    s.close()
    out, err = show.communicate(timeout=30)
    assert show.returncode == 0, err
    assert "Traceback" not in err
    attacked = frames_of(out)
    assert sent > 300
    assert attacked >= 0.9 * peaceful, (attacked, peaceful, err[-2000:])


def lp(*args, env=None, timeout=240, preexec_fn=None):
    e = dict(os.environ)
    e.pop("DISPLAY", None)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "latentperform.cli", *map(str, args)], cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, env=e, preexec_fn=preexec_fn)


def one_line_error(r, *needles):
    assert r.returncode != 0, r.stderr
    assert "Traceback" not in r.stderr, r.stderr
    lines = [l for l in r.stderr.splitlines() if l.startswith("latentperform: error:")]
    assert len(lines) == 1, r.stderr
    for n in needles:
        assert n in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def good_video(tmp_path_factory):
    d = tmp_path_factory.mktemp("good")
    out = d / "good.mp4"
    r = lp("render", "--out", out, "--size", "64x48", "--fps", "10", "--seconds", "1")
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def no_temporaries(folder: Path) -> None:
    assert [p.name for p in folder.iterdir() if p.name.startswith(".")] == []


def test_render_never_overwrites_a_good_video_with_a_stub(tmp_path, good_video):
    """A sound with NaN samples used to be found out after every frame was rendered, and the
    failed mux left a stub where the good video was."""
    import numpy as np
    import soundfile as sf
    target = tmp_path / "show.mp4"
    target.write_bytes(good_video)
    x = np.sin(np.arange(22050) / 10).astype(np.float32)
    x[100:200] = np.nan
    sf.write(tmp_path / "nan.wav", x, 22050, subtype="FLOAT")
    r = lp("render", "--audio", tmp_path / "nan.wav", "--out", target, "--size", "64x48", "--fps", "10")
    one_line_error(r, "nan.wav", "NaN")
    assert "rendering 1/" not in r.stderr  # known up front: not one frame rendered
    assert target.read_bytes() == good_video
    no_temporaries(tmp_path)
    fresh = tmp_path / "fresh.mp4"
    r = lp("render", "--out", fresh, "--size", "64x48", "--fps", "10", "--seconds", "0.5")
    assert r.returncode == 0, r.stderr
    assert fresh.stat().st_mode & 0o777 == 0o666 & ~current_umask()  # a normal file, not a private temp


def current_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def test_render_refuses_an_extension_it_cannot_write_before_rendering(tmp_path):
    r = lp("render", "--out", tmp_path / "show.txt", "--size", "64x48", "--fps", "10", "--seconds", "1")
    one_line_error(r, "show.txt", ".mp4")
    assert "rendering 1/" not in r.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_full_disk_during_render_is_one_line_and_keeps_the_old_video(tmp_path, good_video):
    import resource
    target = tmp_path / "show.mp4"
    target.write_bytes(good_video)
    limit = 8 * 1024  # RLIMIT_FSIZE: writes past 64 KiB fail with EFBIG, as on a full disk

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    r = lp("render", "--out", target, "--size", "128x96", "--fps", "20", "--seconds", "2",
           preexec_fn=small_disk)
    line = one_line_error(r, "show.mp4")
    assert "left as it was" in line
    assert target.read_bytes() == good_video
    no_temporaries(tmp_path)


def test_check_fails_on_what_the_show_would_drop(tmp_path):
    import shutil
    shaders = tmp_path / "shaders"
    shutil.copytree(ROOT / "shaders", shaders)
    (shaders / "grade.glsl").write_text("// broken on purpose\nvoid main() { this is not glsl }\n")
    patch = tmp_path / "p.toml"
    patch.write_text('[output]\nshaders = ["feedbak", "grade"]\n\n[inputs.audio]\nenabled = true\n\n'
                     '[[mapping]]\nsource = "audio/bas"\ntarget = "latent/pulse"\n')
    r = lp("check", patch, env={"LATENTPERFORM_SHADERS_DIR": str(shaders)})
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    errors = [l for l in r.stderr.splitlines() if l.startswith("latentperform: error:")]
    assert len(errors) == 3, r.stderr
    text = "\n".join(errors)
    assert f"{patch}:8: mapping[0].source" in text and 'did you mean "audio/bass"' in text
    assert f"{patch}:2: output.shaders: shader pass 'feedbak'" in text and 'did you mean "feedback"' in text
    assert "does not compile" in text and "grade.glsl:2" in text
    assert ": ok" not in r.stdout


def test_a_full_disk_stops_the_log_and_the_recording_and_the_show_goes_on(tmp_path):
    """ENOSPC from the event log inside the frame loop used to end the show with SIGABRT, and the
    same at the end when the recording and the log shared the disk.  Here every file may grow to
    48 KiB (RLIMIT_FSIZE: EFBIG, as a full disk gives ENOSPC): the log and the recording stop,
    each says so once, and the show runs to its end and prints its summary."""
    import resource
    limit = 48 * 1024

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    port = free_udp_port()
    log, video = tmp_path / "show.jsonl", tmp_path / "show.mp4"
    e = dict(os.environ)
    e.pop("DISPLAY", None)
    show = subprocess.Popen([sys.executable, "-m", "latentperform.cli", "run", "--headless", "--seconds", "4",
                             "--size", "320x240", "--no-audio", "--no-watch", "--osc-port", str(port),
                             "--log-events", str(log), "--record", str(video)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=e,
                            preexec_fn=small_disk)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    k = 0
    while show.poll() is None:  # ~1,500 events a second: the log passes 48 KiB within a second
        s.sendto(msg("/lp/truncation", (k % 100) / 100), ("127.0.0.1", port))
        k += 1
        time.sleep(0.0007)
    s.close()
    out, err = show.communicate(timeout=60)
    assert show.returncode == 0, err[-3000:]
    assert "Traceback" not in err and "terminate called" not in err
    assert frames_of(out) > 0
    assert err.count("the event log") == 1, err[-3000:]  # reported once
    assert "stopped" in err
    from latentperform.inputs.replay import read_event_log_with_meta
    events, _ = read_event_log_with_meta(log)  # what it wrote before the disk filled is a log
    assert len(events) > 100 and log.stat().st_size <= limit
    # the recording stopped too, once, and what it had written (whole seconds of a fragmented
    # mp4) is a playable video where it was asked for
    assert err.count("recording stopped") == 1, err[-3000:]
    assert "the video up to then is in" in err
    from latentperform.render import probe_video
    assert 0 < probe_video(video)["frames"] < frames_of(out)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def _wait_listening(proc, timeout=120):
    """Read the show's stderr until it listens for OSC; returns the lines read."""
    lines = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        lines.append(line)
        if "listening on" in line:
            return lines
    raise AssertionError("the show did not start: " + "".join(lines)[-2000:])


def test_sigterm_ends_the_show_with_its_summary_and_a_whole_log(tmp_path):
    """SIGTERM used to print no summary and lose up to 256 logged events."""
    port = free_udp_port()
    log, video = tmp_path / "show.jsonl", tmp_path / "show.mp4"
    show = lp_popen("run", "--headless", "--seconds", "120", "--size", "96x64", "--no-audio", "--no-watch",
                    "--osc-port", port, "--log-events", log, "--record", video)
    _wait_listening(show)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for k in range(40):
        s.sendto(msg("/lp/truncation", k / 100), ("127.0.0.1", port))
        time.sleep(0.01)
    s.close()
    time.sleep(0.5)
    show.send_signal(signal.SIGTERM)
    out, err = show.communicate(timeout=60)
    assert show.returncode == 0, err[-2000:]
    assert "Traceback" not in err
    assert frames_of(out) > 0 and "fps" in out
    from latentperform.inputs.replay import read_event_log_with_meta
    from latentperform.render import probe_video
    events, meta = read_event_log_with_meta(log)
    values = sorted(round(e.value, 2) for e in events if e.address == "param/latent/truncation")
    assert values == [round(k / 100, 2) for k in range(40)]  # every event, none lost
    assert "end" in meta and not meta["warnings"]
    assert probe_video(video)["frames"] > 0


def test_a_stalled_show_reports_honest_figures_and_its_video_keeps_the_time(tmp_path):
    """The show is stopped (SIGSTOP) for 1.5 s in the middle: its summary says frames over wall
    time and counts the stall; its recording still lasts as long as the show (the held picture is
    repeated over the stall, and the recorder says how many frames it repeated)."""
    port = free_udp_port()
    video = tmp_path / "show.mp4"
    show = lp_popen("run", "--headless", "--seconds", "5", "--size", "96x64", "--no-audio", "--no-watch",
                    "--osc-port", port, "--record", video, "--fps", "20")
    _wait_listening(show)
    time.sleep(1.0)
    show.send_signal(signal.SIGSTOP)
    time.sleep(1.5)
    show.send_signal(signal.SIGCONT)
    out, err = show.communicate(timeout=60)
    assert show.returncode == 0, err[-2000:]
    m = re.search(r"^(\d+) frames in ([\d.]+) s, ([\d.]+) fps", out, re.M)
    assert m, out
    frames, wall, fps = int(m.group(1)), float(m.group(2)), float(m.group(3))
    assert fps == pytest.approx(frames / wall, abs=0.15)
    assert fps < 17  # 1.5 s of 5 lost: not "20.0"
    stalls = int(re.search(r"(\d+) stalls over 100 ms", out).group(1))
    assert stalls >= 1
    rec = re.search(r"^recorded .*\((\d+) frames, (\d+) repeated", out, re.M)
    assert rec, out
    from latentperform.render import probe_video
    info = probe_video(video)
    assert info["frames"] == int(rec.group(1)) and int(rec.group(2)) >= 20  # >= 1 s of the stall held
    assert abs(info["duration"] - wall) < 0.3, (info, wall)


def test_udp_loss_under_a_flood_is_counted_and_shown(tmp_path):
    """While the show is stopped (SIGSTOP) a flood fills its receive buffer: the kernel drops
    what does not fit, and the summary says how many (from the socket's drop counter), so that
    datagrams read + datagrams lost == datagrams sent."""
    port = free_udp_port()
    show = lp_popen("run", "--headless", "--seconds", "4", "--size", "64x48", "--no-audio", "--no-watch",
                    "--osc-port", port)
    _wait_listening(show)
    show.send_signal(signal.SIGSTOP)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    data = msg("/flood/x", 1.0)
    sent = 0
    t0 = time.monotonic()
    while time.monotonic() - t0 < 1.0:
        for _ in range(500):
            s.sendto(data, ("127.0.0.1", port))
        sent += 500
    s.close()
    show.send_signal(signal.SIGCONT)
    out, err = show.communicate(timeout=60)
    assert show.returncode == 0, err[-2000:]
    m = re.search(r"^OSC: (\d+) datagrams, .* (\d+) lost in the receive buffer", out, re.M)
    assert m, out
    read, lost = int(m.group(1)), int(m.group(2))
    assert lost > 0 and read + lost == sent, (read, lost, sent)


def test_the_show_says_at_start_what_check_would_fail_on(tmp_path):
    patch = tmp_path / "p.toml"
    patch.write_text('[output]\nsize = [64, 48]\n\n[[mapping]]\nsource = "audio/bas"\ntarget = "latent/pulse"\n')
    r = lp("run", patch, "--headless", "--seconds", "1", "--no-audio", "--osc-port", "0", "--no-watch")
    assert r.returncode == 0, r.stderr
    assert f"{patch}:5: mapping[0].source" in r.stderr and 'did you mean "audio/bass"' in r.stderr
