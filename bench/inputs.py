"""Input latency and throughput: how long from a message leaving the sender to the ControlEvent
being on the engine's queue, how long to the parameter in a running show, and how many OSC
messages a second the listener takes.

    python bench/inputs.py [--osc-messages 2000] [--flood 50000] [--midi-messages 500]
                           [--show-seconds 10] [--show-fps 60]

OSC: the sender is another process (tests/inputs/osc_sender.py, python-osc's client) stamping
each message with time.perf_counter() (CLOCK_MONOTONIC, shared by processes on Linux); the
event's time is taken when the listener reads the datagram.  Throughput: a flood as fast as
the sender can go, and a paced 5,000 msg/s second, counting what arrived.
MIDI: a virtual port on a JACK dummy server (started here, as the tests do, unless MIDO_BACKEND
is already set); one CC every 5 ms; the JACK period (256 frames at 48 kHz = 5.3 ms) bounds it.
In a show: a headless engine (built-in generator, 64x48, paced to --show-fps) with its OSC and
MIDI inputs opened from a patch; a thread sends `/lp/walk v` over UDP and a MIDI CC mapped to
latent/truncation, 20 of each a second, each with a new value; the figure is from the send to
the end of the first tick whose parameters hold that value (its frame drawn).  Expect about half
a frame period plus the input's own delay.
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
    env = dict(os.environ, JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1")
    if subprocess.run(["jack_wait", "-w", "-t", "10"], capture_output=True, env=env).returncode != 0:
        _stop_jack((proc, name))
        print("MIDI: skipped (the JACK dummy server did not start; `jackd -d dummy` says why, e.g. "
              "\"Too many servers already active\" when killed servers left their slots in /dev/shm)")
        return False
    os.environ.update(JACK_DEFAULT_SERVER=name, JACK_NO_START_SERVER="1",
                      MIDO_BACKEND="mido.backends.rtmidi/UNIX_JACK")
    return proc, name


def _stop_jack(jack) -> None:
    if not jack:
        return
    proc, name = jack
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)
    for f in os.listdir("/dev/shm"):  # jackd leaves its segments and semaphores behind
        if name in f:
            path = os.path.join("/dev/shm", f)
            if os.path.isdir(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.remove(path)
                except OSError:
                    pass


def bench_midi(n: int) -> None:
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


_SHOW_PATCH = """
[model]
kind = "builtin"
resolution = 48
[output]
size = [64, 48]
fps = 60
shaders = ["grade"]
[inputs.osc]
enabled = true
[inputs.midi]
enabled = true
in = ["*{port}*"]
[[mapping]]
source = "midi/cc/0/7"
target = "latent/truncation"
range = [0.0, 1.27]
"""


def bench_show(seconds: float, fps: float) -> None:
    """Send -> parameter in a running show, for OSC and MIDI."""
    import tempfile
    import threading

    import mido

    from latentperform.engine import open_show, open_live_inputs
    from latentperform.inputs.midi import midi_backend
    from latentperform.models import BuiltinGenerator
    from latentperform.patch import load_patch
    from latentperform.render import HeadlessSurface
    from pythonosc.udp_client import SimpleUDPClient

    have_midi = bool(os.environ.get("MIDO_BACKEND"))
    port_name = f"lp-bench-show-{uuid.uuid4().hex[:6]}"
    out = midi_backend().open_output(port_name, virtual=True) if have_midi else None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        text = _SHOW_PATCH.format(port=port_name)
        if not have_midi:
            text = text.replace("[inputs.midi]\nenabled = true", "[inputs.midi]\nenabled = false")
        path.write_text(text)
        patch = load_patch(path)
        surface = HeadlessSurface((64, 48))
        eng = open_show(patch, surface=surface, clock=PerfClock(), fps=fps, generator=BuiltinGenerator(resolution=48))
        try:
            open_live_inputs(eng, osc_host="127.0.0.1", osc_port=0, audio=False)
            osc_port = eng.inputs[0].port
            for _ in range(int(fps)):  # a second to settle (ports connect, the worker warms up)
                eng.step()
                time.sleep(1 / fps)
            lock = threading.Lock()
            pending: list[tuple[str, str, float, float]] = []  # (kind, param, value, sent at)
            stop = threading.Event()

            def send() -> None:
                client = SimpleUDPClient("127.0.0.1", osc_port)
                k = 0
                while not stop.is_set():
                    k += 1
                    v = (k % 100 + 1) / 100.0   # new each time (the previous value differs)
                    with lock:
                        pending.append(("OSC", "latent/walk", v, time.perf_counter()))
                    client.send_message("/lp/walk", v)
                    if out is not None:
                        raw = k % 126 + 1
                        with lock:
                            pending.append(("MIDI", "latent/truncation", raw / 127 * 1.27, time.perf_counter()))
                        out.send(mido.Message("control_change", channel=0, control=7, value=raw))
                    stop.wait(0.05)

            th = threading.Thread(target=send, daemon=True)
            th.start()
            lat: dict[str, list[float]] = {"OSC": [], "MIDI": []}
            period = 1.0 / fps
            deadline = time.perf_counter()
            end = deadline + seconds
            while time.perf_counter() < end:
                eng.step()
                now = time.perf_counter()
                values = eng.params.values
                with lock:
                    keep = []
                    for kind, name, v, sent in pending:
                        if abs(values.get(name, -1.0) - v) < 1e-6:
                            lat[kind].append((now - sent) * 1e3)
                        elif now - sent < 1.0:
                            keep.append((kind, name, v, sent))
                    pending[:] = keep
                deadline += period
                time.sleep(max(deadline - time.perf_counter(), 0.0))
            stop.set()
            th.join(2)
            for kind, ms in lat.items():
                if ms:
                    _report(f"{kind} send -> parameter, show at {fps:g} fps", ms)
            print(f"  (show: {eng.stats.frames} frames; a value not seen within 1 s counts as lost: "
                  f"OSC {len(lat['OSC'])} seen, MIDI {len(lat['MIDI'])} seen)")
        finally:
            eng.close()
            surface.close()
            if out is not None:
                out.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--osc-messages", type=int, default=2000)
    ap.add_argument("--flood", type=int, default=50000)
    ap.add_argument("--midi-messages", type=int, default=500)
    ap.add_argument("--show-seconds", type=float, default=10.0)
    ap.add_argument("--show-fps", type=float, default=60.0)
    args = ap.parse_args()
    bench_osc(args.osc_messages, args.flood)
    jack = _start_jack()
    try:
        if jack is not False:
            bench_midi(args.midi_messages)
        bench_show(args.show_seconds, args.show_fps)
    finally:
        _stop_jack(jack)


if __name__ == "__main__":
    main()
