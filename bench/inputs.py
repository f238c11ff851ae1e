"""Input latency and throughput: how long from a message leaving the sender to the ControlEvent
being on the engine's queue, and how many OSC messages a second the listener takes.

    python bench/inputs.py [--osc-messages 2000] [--flood 50000] [--midi-messages 500]

OSC: the sender is another process (tests/inputs/osc_sender.py, python-osc's client) stamping
each message with time.perf_counter() (CLOCK_MONOTONIC, shared by processes on Linux); the
event's time is taken when the listener reads the datagram.  Throughput: a flood as fast as
the sender can go, and a paced 5,000 msg/s second, counting what arrived.
MIDI: a virtual port on a JACK dummy server (started here, as the tests do, unless MIDO_BACKEND
is already set); one CC every 5 ms; the JACK period (256 frames at 48 kHz = 5.3 ms) bounds it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from latentperform.events import EventQueue  # noqa: E402
from latentperform.inputs.osc import OscInput  # noqa: E402

SENDER = ROOT / "tests" / "inputs" / "osc_sender.py"


class PerfClock:
    """Event times on time.perf_counter()'s base, so they compare with the sender's stamps."""

    def now(self) -> float:
        return time.perf_counter()

    def tick(self) -> float:
        return self.now()


def _pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def _report(label: str, ms: list[float]) -> None:
    print(f"{label:<40} median {statistics.median(ms):6.3f} ms   p99 {_pct(ms, 99):6.3f} ms   "
          f"max {max(ms):6.3f} ms   (n={len(ms)})")


def _wait_quiet(counter, settle: float = 0.3, limit: float = 20.0) -> None:
    end = time.monotonic() + limit
    last, since = counter(), time.monotonic()
    while time.monotonic() < end:
        time.sleep(0.02)
        now = counter()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since > settle:
            return


def bench_osc(n_latency: int, n_flood: int) -> None:
    q = EventQueue(maxlen=1 << 20)
    inp = OscInput(q, PerfClock(), port=0)
    try:
        subprocess.run([sys.executable, str(SENDER), str(inp.port), "latency", str(n_latency)], check=True)
        _wait_quiet(lambda: inp.stats["received"])
        lat = [(e.time - e.value) * 1e3 for e in q.iter_pending() if e.address == "osc/bench/latency"]
        _report("OSC datagram -> ControlEvent", lat[50:] or lat)
        print(f"  (socket receive buffer as the kernel reports it: {inp.receive_buffer // 1024} KiB)")

        runs = [("as fast as the sender goes", "1e12", n_flood)]
        runs += [(f"paced at {r:,} msg/s for 1 s", str(r), r) for r in (5000, 10000, 20000, 40000)]
        for label, rate, count in runs:
            before = inp.stats["received"]
            out = subprocess.run([sys.executable, str(SENDER), str(inp.port), "flood", str(count), rate],
                                 check=True, capture_output=True, text=True)
            _wait_quiet(lambda: inp.stats["received"])
            got = inp.stats["received"] - before
            events = list(q.iter_pending())
            span = (events[-1].time - events[0].time) if len(events) > 1 else float("nan")
            print(f"OSC throughput, {label:<32} sent {count} at {float(out.stdout):8.0f} msg/s, "
                  f"received {got} ({count - got} lost), {got / span:8.0f} msg/s while arriving")
    finally:
        inp.close()


def _start_jack():
    if os.environ.get("MIDO_BACKEND"):
        return None
    if shutil.which("jackd") is None:
        print("MIDI: skipped (no MIDO_BACKEND set and no jackd to start)")
        return False
    name = f"lpbench{uuid.uuid4().hex[:6]}"
    proc = subprocess.Popen(["jackd", "-n", name, "--no-realtime", "-d", "dummy", "-r", "48000", "-p", "256",
                             "-C", "2", "-P", "2"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1",
                      MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK")
    if subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True).returncode != 0:
        proc.kill()
        print("MIDI: skipped (the JACK dummy server did not start)")
        return False
    return proc, name


def bench_midi(n: int) -> None:
    jack = _start_jack()
    if jack is False:
        return
    import mido

    from latentperform.inputs.midi import MidiInput, midi_backend

    port_name = f"lp-bench-{uuid.uuid4().hex[:6]}"
    out = midi_backend().open_output(port_name, virtual=True)
    q = EventQueue()
    inp = MidiInput(q, PerfClock(), f"*{port_name}*")
    try:
        if not inp.connected:
            print(f"MIDI: skipped ({inp.status})")
            return
        time.sleep(0.2)
        sent: list[float] = []
        for k in range(n):
            sent.append(time.perf_counter())
            out.send(mido.Message("control_change", channel=0, control=1, value=k % 128))
            time.sleep(0.005)
        _wait_quiet(lambda: inp.stats["received"])
        events = [e for e in q.iter_pending() if e.address == "midi/cc/0/1"]
        lat = [(e.time - s) * 1e3 for e, s in zip(events, sent)]
        _report("MIDI (JACK) message -> ControlEvent", lat)
        print(f"  ({len(events)} of {n} arrived; JACK period 5.3 ms)")
    finally:
        inp.close()
        out.close()
        if jack:
            proc, name = jack
            proc.terminate()
            proc.wait(5)
            for f in os.listdir("/dev/shm"):
                if name in f:
                    shutil.rmtree(os.path.join("/dev/shm", f), ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osc-messages", type=int, default=2000)
    ap.add_argument("--flood", type=int, default=50000)
    ap.add_argument("--midi-messages", type=int, default=500)
    args = ap.parse_args()
    bench_osc(args.osc_messages, args.flood)
    bench_midi(args.midi_messages)


if __name__ == "__main__":
    main()
