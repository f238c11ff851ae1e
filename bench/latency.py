"""Control-to-photon latency and frame pacing of a headless engine, driven over OSC from another process.

    python bench/latency.py [--sizes 256 512 1920x1080] [--seconds 10] [--rate 20] [--fps 60] [--patch FILE]

For each output size (N for N x N, or WxH), this starts `latentperform run PATCH --headless --seconds S --size WxH`
in a subprocess, with a copy of the patch whose OSC input listens on a free port and whose OSC
feedback targets point back at this process.  While it runs, this process sends a parameter
change (`/lp/truncation`, a new value each time) at a steady `--rate` per second, and listens to
the feedback.  Figures printed per size:

- control-to-photon latency, median and p99, as the engine measures it: from the time a control
  event arrived to the time the first frame it shaped was presented.  Read from the engine's OSC
  feedback when it sends latency figures (`/lp/latency` median p99 in ms, or
  `/lp/latency/median` and `/lp/latency/p99`), else from the summary `run` prints at the end.
- frame time median and p99, and stutter (p99 / median), from that summary.
- control -> state echo (measured here): from sending a value to receiving the engine's
  `/lp/param/latent/truncation` feedback with that value, which the engine sends after the frame
  of that tick is presented.  It includes two trips over loopback UDP, and it is not photon
  latency (the generated picture may come a frame or two later).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_PATCH = REPO / "patches" / "default.toml"
PARAM_ADDRESS = "/lp/truncation"
ECHO_ADDRESS = "/lp/param/latent/truncation"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def patch_for_bench(source: Path, osc_port: int, feedback_port: int) -> str:
    """The patch's text with its [inputs.osc] section replaced (listen here, feed back to us)."""
    text = source.read_text()
    section = (f'[inputs.osc]\nenabled = true\nhost = "127.0.0.1"\nport = {osc_port}\n'
               f'targets = ["127.0.0.1:{feedback_port}"]\n')
    pattern = re.compile(r"^\[inputs\.osc\]\s*\n(?:(?!\[).*\n?)*", re.M)
    if pattern.search(text):
        return pattern.sub(section + "\n", text, count=1)
    return text.rstrip() + "\n\n" + section


class Feedback:
    """Listens for the engine's OSC feedback on a port of this machine."""

    def __init__(self, port: int) -> None:
        from pythonosc.dispatcher import Dispatcher
        from pythonosc.osc_server import BlockingOSCUDPServer

        self.echo: dict[float, float] = {}  # value -> when its echo arrived
        self.latency: list[tuple[float, float]] = []  # (median ms, p99 ms) as the engine reports them
        self._lat_parts: dict[str, float] = {}
        self.messages = 0
        d = Dispatcher()
        d.map(ECHO_ADDRESS, self._on_echo)
        d.map("/lp/latency", self._on_latency)
        d.map("/lp/latency/*", self._on_latency_part)
        d.set_default_handler(self._on_any)
        self.server = BlockingOSCUDPServer(("127.0.0.1", port), d)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def _on_any(self, address, *args) -> None:
        self.messages += 1

    def _on_echo(self, address, *args) -> None:
        self.messages += 1
        if args:
            self.echo.setdefault(round(float(args[0]), 5), time.perf_counter())

    def _on_latency(self, address, *args) -> None:
        self.messages += 1
        if len(args) >= 2:
            self.latency.append((float(args[0]), float(args[1])))

    def _on_latency_part(self, address, *args) -> None:
        self.messages += 1
        if args:
            self._lat_parts[address.rsplit("/", 1)[1]] = float(args[0])
            if "median" in self._lat_parts and "p99" in self._lat_parts:
                self.latency.append((self._lat_parts.pop("median"), self._lat_parts.pop("p99")))

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


SUMMARY_PATTERNS = {
    "frames": r"(?m)^(\d+) frames,",
    "fps": r"frames, ([\d.]+) fps",
    "frame_ms_median": r"frame time median ([\d.]+) ms",
    "frame_ms_p99": r"frame time median [\d.]+ ms,? p99 ([\d.]+) ms",
    "stutter": r"stutter ([\d.]+)",
    "gen_ms": r"generator ([\d.]+) ms",
    # the engine's summary, old and new wordings
    "latency_ms_median": r"control-to-photon(?: latency)?(?: median)? ([\d.]+) ms(?: median)?",
    "latency_ms_p99": r"control-to-photon latency median [\d.]+ ms, p99 ([\d.]+) ms",
    "latency_samples": r"\((\d+) inputs\)",
}


def parse_summary(text: str) -> dict:
    out = {}
    upload = re.search(r"^upload: (.+)$", text, re.M)  # which path frames took into GL, and its cost
    if upload:
        out["upload"] = upload.group(1).strip()
    model = re.search(r"^model: (.+)$", text, re.M)  # where the network runs, as the show loaded it
    if model:
        out["model"] = model.group(1).strip()
    for key, pattern in SUMMARY_PATTERNS.items():
        m = re.search(pattern, text)
        if m:
            out[key] = float(m.group(1))
    return out


def run_once(size: str, seconds: float, rate: float, fps: float, patch: Path, extra: list[str]) -> dict:
    from pythonosc.udp_client import SimpleUDPClient

    osc_port, fb_port = free_udp_port(), free_udp_port()
    feedback = Feedback(fb_port)
    with tempfile.TemporaryDirectory() as tmp:
        patch_file = Path(tmp) / "bench.toml"
        patch_file.write_text(patch_for_bench(patch, osc_port, fb_port))
        cmd = [sys.executable, "-c", "import sys; from latentperform.cli import main; sys.exit(main())",
               "run", str(patch_file), "--headless", "--seconds", f"{seconds:g}", "--size", _wxh(size),
               "--fps", f"{fps:g}", "--no-audio", "--osc-port", str(osc_port), *extra]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        lines: list[str] = []
        listening = threading.Event()

        def read() -> None:
            for line in proc.stdout:
                lines.append(line)
                if "osc" in line.lower() and str(osc_port) in line:
                    listening.set()

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        client = SimpleUDPClient("127.0.0.1", osc_port)
        listening.wait(60)  # the engine logs the port it bound; start sending once it listens
        sent: dict[float, float] = {}
        period = 1.0 / rate
        k = 0
        next_at = time.perf_counter()
        while proc.poll() is None:
            value = round(0.3 + 0.4 * ((k * 0.618034) % 1.0), 5)  # a new value every time
            client.send_message(PARAM_ADDRESS, value)
            sent.setdefault(value, time.perf_counter())
            k += 1
            next_at += period
            time.sleep(max(next_at - time.perf_counter(), 0.0))
        reader.join(10)
        proc.wait()
    feedback.close()
    text = "".join(lines)
    result = {"size": size, "returncode": proc.returncode, "sent": k, "feedback_messages": feedback.messages,
              **parse_summary(text)}
    if feedback.latency:  # the engine's own figures over OSC: the last report covers the whole run
        result["latency_ms_median"], result["latency_ms_p99"] = feedback.latency[-1]
        result["latency_source"] = "OSC feedback"
    elif "latency_ms_median" in result:
        result["latency_source"] = "run's summary"
    echoes = [(feedback.echo[v] - t) * 1e3 for v, t in sent.items() if v in feedback.echo and feedback.echo[v] >= t]
    if echoes:
        result["echo_ms_median"] = float(np.median(echoes))
        result["echo_ms_p99"] = float(np.percentile(echoes, 99))
        result["echoes"] = len(echoes)
    if proc.returncode != 0:
        result["output_tail"] = text[-1500:]
    return result


def _wxh(size) -> str:
    return str(size) if "x" in str(size) else f"{size}x{size}"


def fmt(v, unit="ms") -> str:
    return "--" if v is None or v != v else f"{v:.1f}{(' ' + unit) if unit else ''}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", nargs="+", default=["256", "512"], help="N (N x N) or WxH")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rate", type=float, default=20.0, help="parameter changes sent per second")
    ap.add_argument("--fps", type=float, default=60.0, help="the engine's display rate")
    ap.add_argument("--patch", type=Path, default=DEFAULT_PATCH)
    ap.add_argument("extra", nargs="*", help="more options for `latentperform run` (after --)")
    args = ap.parse_args()
    print(f"headless engine, {args.fps:g} fps target, {args.seconds:g} s per size, "
          f"{args.rate:g} OSC changes/s from another process, patch {args.patch.name}")
    for size in args.sizes:
        r = run_once(size, args.seconds, args.rate, args.fps, args.patch, args.extra)
        if r["returncode"] != 0:
            print(f"{_wxh(size)}: the engine failed (exit {r['returncode']}):\n{r.get('output_tail', '')}")
            continue
        print(f"{_wxh(size)}: control-to-photon median {fmt(r.get('latency_ms_median'))} "
              f"p99 {fmt(r.get('latency_ms_p99'))} ({r.get('latency_source', 'not reported')}, "
              f"{int(r.get('latency_samples', 0))} samples); "
              f"frame time median {fmt(r.get('frame_ms_median'))} p99 {fmt(r.get('frame_ms_p99'))}, "
              f"stutter {fmt(r.get('stutter'), '')}; {fmt(r.get('fps'), 'fps')}; "
              f"generator {fmt(r.get('gen_ms'))}; control->state echo median {fmt(r.get('echo_ms_median'))} "
              f"p99 {fmt(r.get('echo_ms_p99'))} ({r.get('echoes', 0)} of {r['sent']} sent); "
              f"upload path: {r.get('upload', 'not reported')}; model: {r.get('model', 'not reported')}")


if __name__ == "__main__":
    main()
