"""Soak: a headless show under `run --supervise` for a long time, watched from outside.

    python bench/soak.py                         # one hour (the figure the README quotes)
    python bench/soak.py --seconds 120 --kill-at 40 --stall-at 80     # short, with a kill -9 and a stall

Every `--every` seconds it samples the show's resident memory (/proc/<pid>/status VmRSS) and
the figures the show writes to its state file (frames, fps, frame time p99, errors); a kill -9
(`--kill-at`) and a SIGSTOP stall (`--stall-at`) are timed from the signal to the new show's
first presented frame (its READY).  It prints: RSS after warm-up, at the end and its growth
(linear fit over the run after warm-up, in % per hour and over the run), frame time p99, fps,
restarts and the restart times.  Exit status 1 when the RSS grew 1 % or more after warm-up.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def read(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def wait_ready(sup_file: Path, old_pid: int | None, timeout: float) -> tuple[int | None, float]:
    """Wait for a (new) show that says READY; (its pid, when)."""
    end = time.time() + timeout
    while time.time() < end:
        s = read(sup_file)
        pid = s.get("child_pid")
        if pid and pid != old_pid and s.get("ready"):
            return pid, time.time()
        time.sleep(0.05)
    return None, time.time()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=3600.0)
    ap.add_argument("--warmup", type=float, default=None, help="seconds before RSS counts (default 10 %%, ≥ 20 s)")
    ap.add_argument("--every", type=float, default=5.0)
    ap.add_argument("--patch", default=str(ROOT / "patches" / "default.toml"))
    ap.add_argument("--size", default="320x180")
    ap.add_argument("--fps", default="30")
    ap.add_argument("--watchdog", type=float, default=5.0)
    ap.add_argument("--kill-at", type=float, default=None, help="kill -9 the show this many seconds in")
    ap.add_argument("--stall-at", type=float, default=None, help="SIGSTOP the show this many seconds in")
    args = ap.parse_args()
    warmup = args.warmup if args.warmup is not None else max(20.0, 0.1 * args.seconds)

    state = Path(tempfile.mkdtemp(prefix="lp-soak-"))
    env = {**os.environ, "LP_STATE_DIR": str(state), "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "latentperform.cli", "run", "--supervise", "--name", "soak", "--headless",
           "--no-audio", "--no-watch", "--size", args.size, "--fps", args.fps, "--osc-port", "0",
           "--watchdog", str(args.watchdog), args.patch]
    sup = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    sup_file, show_file = state / "soak.supervise.json", state / "soak.json"
    samples: list[tuple[float, int]] = []
    events: list[str] = []
    restarts: list[tuple[str, float]] = []
    try:
        pid, t_ready = wait_ready(sup_file, None, 300)
        if pid is None:
            print("the show never got ready", file=sys.stderr)
            return 2
        t0 = t_ready
        kill_at, stall_at = args.kill_at, args.stall_at
        next_sample = t0
        while time.time() - t0 < args.seconds:
            now = time.time()
            for label, at in (("kill -9", kill_at), ("stall (SIGSTOP)", stall_at)):
                if at is not None and now - t0 >= at:
                    os.kill(pid, signal.SIGKILL if label == "kill -9" else signal.SIGSTOP)
                    sent = time.time()
                    new, ready = wait_ready(sup_file, pid, 300)
                    restarts.append((label, ready - sent))
                    events.append(f"{label} at {sent - t0:.0f} s: a new show presented frames "
                                  f"{ready - sent:.1f} s later")
                    pid = new
                    samples.clear()  # memory is the new process's: the growth restarts with it
                    t0_mem = time.time()
                    if label == "kill -9":
                        kill_at = None
                    else:
                        stall_at = None
                    warmup = max(warmup, (t0_mem - t0) + 20.0)
            if now >= next_sample and pid:
                r = rss_kib(pid)
                if r is not None and now - t0 >= warmup:
                    samples.append((now - t0, r))
                next_sample += args.every
            time.sleep(0.05)
        show = read(show_file)
        s = read(sup_file)
    finally:
        sup.send_signal(signal.SIGTERM)
        try:
            sup.wait(30)
        except subprocess.TimeoutExpired:
            sup.kill()
    for line in events:
        print(line)
    if len(samples) < 3:
        print("too few memory samples after warm-up (a restart starts the warm-up again); run longer",
              file=sys.stderr)
        return 2
    xs, ys = [x for x, _ in samples], [y for _, y in samples]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    slope = sum((x - mx) * (y - my) for x, y in samples) / max(sum((x - mx) ** 2 for x in xs), 1e-9)  # KiB/s
    span = xs[-1] - xs[0]
    growth = slope * span / ys[0] * 100
    print(f"soak {args.seconds:.0f} s, {args.size} at {args.fps} fps, warm-up {warmup:.0f} s "
          f"(machine shared with other work: timings are loaded figures)")
    print(f"RSS after warm-up {ys[0] / 1024:.1f} MiB, at the end {ys[-1] / 1024:.1f} MiB, "
          f"fitted growth {growth:+.2f} % over {span:.0f} s ({slope * 3600 / 1024:+.2f} MiB/h)")
    print(f"frames {show.get('frames')}, fps {show.get('fps')}, frame time p99 {show.get('frame_ms_p99')} ms, "
          f"errors {show.get('errors')}, restarts {s.get('restarts')} (of the last show; the kill and "
          f"the stall above were restarted)")
    return 1 if growth >= 1.0 else 0


if __name__ == "__main__":
    sys.exit(main())
