"""The show fuzzer (issue 12): random and mutated OSC, patch edits and command-line arguments
thrown at a running headless show, then valid input, then a look at what the show wrote.

Used by tests/engine/test_fuzz_show.py (a few seconds) and bench/fuzz_show.py (as long as asked).
`fuzz_show(seconds, workdir, seed)` returns a FuzzReport:

  inputs         how many hostile inputs were tried, by kind (osc datagrams, patch edits, argv)
  alive          the show ended by itself with status 0 and no traceback
  frames, fps    from the show's summary; frames_kept = frames / (fps asked x wall time)
  stalls         frame times over 100 ms, from the summary (-1 when the summary does not say)
  valid_after    the valid OSC messages sent after the fuzz, and how many the event log holds
  log_ok         the event log reads back whole (no broken line) and ends with the show's end mark
  video_frames   frames in the recording (probe), against the show's length
  argv_failures  argument lists that gave a traceback or a zero exit where an error was due
"""

from __future__ import annotations

import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

VALID_PATCH = '''[model]
kind = "builtin"
[output]
size = [96, 64]
fps = 30
shaders = ["feedback", "grade"]
[[keyframes]]
seed = 1
[[keyframes]]
seed = 2
[[mapping]]
source = "osc/fuzz/fader"
target = "latent/truncation"
'''

ADDRESSES = ["/lp/truncation", "/lp/xy", "/lp/pulse/hit", "/lp/keyframe", "/lp/keyframe/next", "/lp/tempo",
             "/lp/tap", "/lp/freeze", "/lp/blackout", "/lp/learn", "/lp/learn/cancel", "/lp/direction/0",
             "/lp/speed", "/fuzz/fader", "/lp/shader/grade/hue"]


def _pad(b: bytes) -> bytes:
    b += b"\x00"
    return b + b"\x00" * (-len(b) % 4)


def osc_message(address: str, *args) -> bytes:
    tags, payload = ",", b""
    for a in args:
        if isinstance(a, float):
            tags += "f"
            payload += struct.pack(">f", a)
        elif isinstance(a, int):
            tags += "i"
            payload += struct.pack(">i", a)
        else:
            tags += "s"
            payload += _pad(str(a).encode("utf-8", "surrogatepass"))
    return _pad(address.encode("utf-8", "surrogatepass")) + _pad(tags.encode()) + payload


def osc_bundle(*elements: bytes) -> bytes:
    out = b"#bundle\x00" + struct.pack(">Q", 1)
    for e in elements:
        out += struct.pack(">i", len(e)) + e
    return out


def hostile_datagram(rng: random.Random) -> bytes:
    kind = rng.randrange(10)
    numbers = [0.5, -1.0, 1e38, -3.4e38, float("nan"), float("inf"), float("-inf"), 0.0, 7, -2**31, 2**31 - 1]
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(0, 96)))
    if kind == 1:  # star patterns: the 40-byte datagram that froze the show
        return osc_message("/lp/" + "*" * rng.randint(10, 40) + rng.choice(["x", "/1", "?", "[0-9]"]), 1.0)
    if kind == 2:  # a huge address
        return osc_message("/lp/" + "x" * rng.randint(1000, 60000), 1.0)
    if kind == 3:  # a known address with hostile numbers
        return osc_message(rng.choice(ADDRESSES), *[rng.choice(numbers) for _ in range(rng.randint(0, 3))])
    if kind == 4:  # strings where numbers go, numbers where strings go
        return osc_message(rng.choice(ADDRESSES), rng.choice(["", "latent/nope", "x" * 500, "\u00e9", 3]))
    if kind == 5:  # nested bundles, some broken
        inner = [osc_message(rng.choice(ADDRESSES), rng.choice(numbers)) for _ in range(rng.randint(0, 4))]
        b = osc_bundle(*inner)
        for _ in range(rng.randint(0, 3)):
            b = osc_bundle(b)
        return b if rng.random() < 0.7 else b[:rng.randrange(len(b) + 1)]
    if kind == 6:  # brace and bracket patterns, some malformed
        return osc_message("/lp/" + rng.choice(["{a,b", "[0-", "{" + ",".join("x" * 5 for _ in range(40)) + "}",
                                                "[!]]", "{}", "[]", "{truncation,speed}"]), 0.5)
    # a valid message, mutated
    return mutate(osc_message(rng.choice(ADDRESSES), rng.choice(numbers)), rng, b"/,#ifsbTFNI[]{}*?\x00\xff")


def mutate(data: bytes, rng: random.Random, alphabet: bytes) -> bytes:
    """1-4 random edits of `data`: overwrite a byte, cut the tail, or insert one of `alphabet`."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(3)
        if op == 0 and b:
            b[rng.randrange(len(b))] = rng.randrange(256)
        elif op == 1:
            b = b[:rng.randrange(len(b) + 1)]
        else:
            b.insert(rng.randrange(len(b) + 1), rng.choice(alphabet))
    return bytes(b)


def hostile_patch(rng: random.Random) -> bytes:
    text = VALID_PATCH.encode()
    kind = rng.randrange(7)
    if kind == 0:
        return b""  # an editor truncating before it writes
    if kind == 1:
        return text[:rng.randrange(len(text))]  # half written
    if kind == 2:
        b = bytearray(text)
        for _ in range(rng.randint(1, 8)):
            b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == 3:
        return text.replace(b"96, 64", rng.choice([b"-1, 64", b"1e9, 1e9", b'"big"', b"0, 0"]))
    if kind == 4:
        return text.replace(b'"feedback", ', rng.choice([b'"nope", ', b'"../../etc/passwd", ', b"3, "]))
    if kind == 5:
        return text + rng.choice([b"[[mapping]]\nsource = \"audio/bas\"\ntarget = \"latent/nope\"\n",
                                  b"[[mapping]]\nsource = 3\n", b"[model]\nkind = \"evil.pkl\"\n"])
    return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))


ARG_TOKENS = ["--size", "0x0", "64x64", "big", "--fps", "0", "-1", "nan", "30", "--seconds", "--out", "o.mp4",
              "o.txt", "/no/such/dir/o.mp4", "--audio", "missing.wav", "--replay", "binary.jsonl", "--osc-port",
              "70000", "-5", "--record", "--log-events", "--interpolation", "cubic", "--sheet", "s.png", "x.p",
              "--plot", "p.xyz", "--csv", "--param", "latent/nope", "--timeout", "--", "-v", "\u00e9", "", "binary.toml"]
COMMANDS = ["check", "analyze", "inspect", "osc-docs", "render", "learn", "devices", "nope"]


def hostile_argv(rng: random.Random) -> list[str]:
    cmd = rng.choice(COMMANDS)
    argv = [cmd] + [rng.choice(ARG_TOKENS) for _ in range(rng.randint(0, 6))]
    if cmd == "render":
        argv += ["--seconds", "0.2", "--size", "16x16", "--fps", "5"]  # last wins: every render stays short
    if cmd == "learn":
        argv += ["--timeout", "0.2"]
    return argv


@dataclass
class FuzzReport:
    inputs: dict = field(default_factory=dict)
    alive: bool = False
    returncode: int | None = None
    frames: int = 0
    fps_asked: float = 30.0
    wall_s: float = 0.0
    stalls: int = -1
    valid_sent: int = 0
    valid_logged: int = 0
    log_ok: bool = False
    log_problem: str = ""
    video_frames: int = 0
    recorded: int = -1
    recorder_dropped: int = 0
    recorder_repeated: int = 0
    argv_failures: list = field(default_factory=list)
    stderr_tail: str = ""

    @property
    def frames_kept(self) -> float:
        return self.frames / max(self.fps_asked * self.wall_s, 1e-9)

    def lines(self) -> list[str]:
        tried = ", ".join(f"{n} {k}" for k, n in self.inputs.items())
        return [f"inputs tried     {sum(self.inputs.values())} ({tried})",
                f"show alive       {'yes' if self.alive else 'NO'} (exit status {self.returncode})",
                f"frames kept      {self.frames} of {self.fps_asked * self.wall_s:.0f} asked "
                f"({self.frames_kept:.0%}) in {self.wall_s:.1f} s",
                f"stalls > 100 ms  {self.stalls if self.stalls >= 0 else 'not reported'}",
                f"valid after      {self.valid_logged} of {self.valid_sent} valid messages in the event log",
                f"nothing lost     log {'whole' if self.log_ok else 'BROKEN: ' + self.log_problem}, "
                f"video {self.video_frames} frames (the recorder wrote {self.recorded}, "
                f"repeated {self.recorder_repeated} to keep the time, dropped {self.recorder_dropped})",
                f"argument lists   {self.inputs.get('argv', 0)} tried, {len(self.argv_failures)} failed"]


def _free_port() -> int:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _fuzz_argv(rng: random.Random, workdir: Path, until: float, report: FuzzReport) -> None:
    """Argument lists, in this process, through cli.main: each must be an error line or a
    success, never a traceback."""
    import contextlib
    import io

    from latentperform import cli

    here = os.getcwd()
    os.chdir(workdir)
    try:
        while time.monotonic() < until:
            argv = hostile_argv(rng)
            err = io.StringIO()
            try:
                with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
                    try:
                        cli.main(argv)
                    except SystemExit:
                        pass
            except Exception as e:  # noqa: BLE001 - what the fuzzer is looking for
                report.argv_failures.append((argv, f"{type(e).__name__}: {e}"))
            if "Traceback" in err.getvalue():
                report.argv_failures.append((argv, err.getvalue()[-300:]))
            report.inputs["argv"] = report.inputs.get("argv", 0) + 1
    finally:
        os.chdir(here)


def fuzz_show(seconds: float, workdir: Path, seed: int = 0, rate: float = 400.0,
              argv_share: float = 0.25) -> FuzzReport:
    """Run a headless show for `seconds` (plus start-up) and fuzz it; see the module doc."""
    rng = random.Random(seed)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "binary.toml").write_bytes(bytes(range(256)) * 8)
    (workdir / "binary.jsonl").write_bytes(bytes(range(256)) * 8)
    patch = workdir / "show.toml"
    patch.write_text(VALID_PATCH)
    log, video = workdir / "show.jsonl", workdir / "show.mp4"
    port = _free_port()
    report = FuzzReport(fps_asked=30.0)
    env = dict(os.environ)
    env.pop("DISPLAY", None)
    cmd = [sys.executable, "-m", "latentperform.cli", "run", str(patch), "--headless", "--seconds", str(seconds),
           "--no-audio", "--osc-port", str(port), "--log-events", str(log), "--record", str(video)]
    t_start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    errors: list[str] = []
    listening = threading.Event()

    def read_stderr() -> None:
        for line in proc.stderr:
            errors.append(line)
            if "listening on" in line:
                listening.set()

    reader = threading.Thread(target=read_stderr, daemon=True)
    reader.start()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # wait until the show listens (it is running by then), then fuzz for most of its time
    deadline = time.monotonic() + 120
    while not listening.wait(0.05) and time.monotonic() < deadline and proc.poll() is None:
        pass
    t_show = time.monotonic()
    fuzz_until = t_show + seconds * 0.7
    next_patch = t_show + 0.3
    sent = 0
    while time.monotonic() < fuzz_until and proc.poll() is None:
        for _ in range(8):
            try:
                sock.sendto(hostile_datagram(rng), ("127.0.0.1", port))
            except OSError:
                pass  # a datagram too big for UDP: the sender's problem
            sent += 1
        if time.monotonic() >= next_patch:
            patch.write_bytes(hostile_patch(rng))
            report.inputs["patch edits"] = report.inputs.get("patch edits", 0) + 1
            next_patch = time.monotonic() + rng.uniform(0.1, 0.6)
        if argv_share > 0 and rng.random() < argv_share * 0.05:
            _fuzz_argv(rng, workdir, time.monotonic() + 0.05, report)
        time.sleep(8 / rate)
    report.inputs["osc datagrams"] = sent
    # valid input afterwards: a good patch, then values the event log must hold
    patch.write_text(VALID_PATCH)
    time.sleep(0.3)
    values = [round(0.1 + 0.05 * k, 3) for k in range(10)]
    for v in values:
        sock.sendto(osc_message("/lp/truncation", v), ("127.0.0.1", port))
        sock.sendto(osc_message("/fuzz/fader", v), ("127.0.0.1", port))
        time.sleep(0.03)
    report.valid_sent = 2 * len(values)
    sock.close()
    try:
        proc.wait(timeout=seconds + 120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    out = proc.stdout.read()
    reader.join(5)
    err = "".join(errors)
    report.wall_s = max(time.monotonic() - t_show, 1e-6)
    report.returncode = proc.returncode
    report.alive = proc.returncode == 0 and "Traceback" not in err
    report.stderr_tail = err[-3000:]
    m = re.search(r"^(\d+) frames", out, re.M)
    report.frames = int(m.group(1)) if m else 0
    m = re.search(r"^recorded .*\((\d+) frames(?:, (\d+) repeated[^,]*)?, (\d+) dropped", out, re.M)
    if m:
        report.recorded, report.recorder_dropped = int(m.group(1)), int(m.group(3))
        report.recorder_repeated = int(m.group(2) or 0)
    m = re.search(r"(\d+) stalls? over 100 ms", out)
    report.stalls = int(m.group(1)) if m else -1
    m = re.search(r"in ([\d.]+) s", out)
    if m:  # the show's own wall time, when its summary gives it
        report.wall_s = float(m.group(1))
    # what it wrote
    try:
        from latentperform.inputs.replay import read_event_log_with_meta
        events, meta = read_event_log_with_meta(log)
        got = {(e.address, round(float(e.value), 3)) for e in events if not isinstance(e.value, tuple)}
        report.valid_logged = sum((a, v) in got for v in values for a in ("param/latent/truncation", "osc/fuzz/fader"))
        report.log_ok = "end" in meta and not [w for w in meta.get("warnings", []) if "cut short" in w]
        report.log_problem = "; ".join(meta.get("warnings", [])) or ("no end mark" if "end" not in meta else "")
    except Exception as e:  # noqa: BLE001 - reported, not raised
        report.log_problem = f"{type(e).__name__}: {e}"
    try:
        from latentperform.render import probe_video
        report.video_frames = int(probe_video(video)["frames"])
    except Exception as e:  # noqa: BLE001
        report.log_problem += f"; video: {e}"
    report.inputs.setdefault("argv", 0)
    del t_start
    return report
