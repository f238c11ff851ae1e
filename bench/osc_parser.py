"""Our OSC parser and address-pattern matcher against python-osc's, on the same inputs, in one run
(so the ratio is fair on a loaded machine):

    python bench/osc_parser.py [--messages 20000] [--fuzz 20000] [--stars 14,16,18,20,22]

1. parse speed: typical datagrams (a float, two floats, a bang, a string, a 3-message bundle)
   through `latentperform.inputs.osc.parse_packet` and through python-osc's `OscPacket`;
2. address patterns: one pattern of N stars against the 30 addresses of a show, through our
   `AddressPattern` and through python-osc's `Dispatcher.handlers_for_address` (both build the
   match once per call, as a router must for a pattern it has not seen);
3. fuzz: random and mutated datagrams; how many each parser rejects with its own parse error,
   and how many raise something else (an exception a listener would have to guess at), and how
   many lines python-osc logs doing so.

This decided issue 11/12's question (use python-osc for parsing, or drop it): see bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from latentperform.inputs.osc import AddressPattern, OscParseError, parse_packet  # noqa: E402

try:
    from pythonosc.dispatcher import Dispatcher
    from pythonosc.osc_packet import OscPacket, ParseError
except ImportError:
    sys.exit("this benchmark compares against python-osc: pip install python-osc (the test extra has it)")

from fuzz_show import mutate  # noqa: E402
from tests.inputs.osc_sender import bundle, dgram  # noqa: E402


message = dgram


ADDRESSES = ([f"/lp/direction/{k}" for k in range(16)]
             + ["/lp/truncation", "/lp/speed", "/lp/walk", "/lp/walk/rate", "/lp/pulse", "/lp/pulse/hit",
                "/lp/keyframe", "/lp/keyframe/next", "/lp/keyframe/prev", "/lp/glide", "/lp/xy", "/lp/freeze",
                "/lp/blackout", "/lp/tempo"])


def per_op(fn, items, repeat: int) -> float:
    t0 = time.perf_counter()
    for _ in range(repeat):
        for x in items:
            fn(x)
    return (time.perf_counter() - t0) / (repeat * len(items)) * 1e6


def bench_parse(n: int) -> None:
    samples = [message("/lp/truncation", 0.5), message("/lp/xy", 0.25, 0.75), message("/lp/keyframe/next"),
               message("/lp/learn", "latent/truncation"),
               bundle(message("/lp/truncation", 0.5), message("/lp/tap"), message("/lp/direction/1", 0.5))]
    repeat = max(1, n // len(samples))
    ours = per_op(parse_packet, samples, repeat)

    def theirs(d):
        return [m.message.params for m in OscPacket(d).messages]

    assert [len(parse_packet(d)) for d in samples] == [len(OscPacket(d).messages) for d in samples]
    py = per_op(theirs, samples, repeat)
    print(f"parse, typical datagrams       ours {ours:6.2f} us   python-osc {py:6.2f} us   "
          f"(python-osc / ours = {py / ours:.1f}x, n={repeat * len(samples)})")


def bench_patterns(stars: list[int]) -> None:
    d = Dispatcher()
    for a in ADDRESSES:
        d.map(a, lambda *x: None)
    for n in stars:
        pattern = "/lp/" + "*" * n + "x"  # matches nothing: the worst case for a backtracking regex
        t0 = time.perf_counter()
        ok = [a for a in ADDRESSES if AddressPattern(pattern).match(a)]
        ours = time.perf_counter() - t0
        t0 = time.perf_counter()
        theirs = list(d.handlers_for_address(pattern))
        py = time.perf_counter() - t0
        assert ok == [] and theirs == []
        print(f"pattern of {n:2d} stars vs {len(ADDRESSES)} addresses   ours {ours * 1e3:8.3f} ms   "
              f"python-osc {py * 1e3:10.1f} ms")
        if py > 5:
            print("   (stopping: python-osc doubles per star from here)")
            break


def mutations(rng: random.Random, n: int):
    seeds = [message("/lp/truncation", 0.5), message("/lp/xy", 0.25, 0.75), message("/a/b", "text", 3),
             bundle(message("/lp/truncation", 0.5), message("/lp/tap"))]
    for i in range(n):
        kind = i % 4
        if kind == 0:
            yield bytes(rng.randrange(256) for _ in range(rng.randrange(0, 64)))
        else:
            yield mutate(rng.choice(seeds), rng, b"/,#ifsbTFNI[]\x00\xff")


class _Count(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.n = 0

    def emit(self, record) -> None:
        self.n += 1


def bench_fuzz(n: int) -> None:
    root = logging.getLogger()
    counter = _Count()
    root.addHandler(counter)
    propagate, root.handlers = root.handlers, [counter]  # python-osc logs each bad datagram on the root logger
    rng = random.Random(11)
    data = list(mutations(rng, n))
    counts = {"ours": [0, 0, 0], "python-osc": [0, 0, 0]}  # accepted, own parse error, other exception
    others: dict[str, set] = {"ours": set(), "python-osc": set()}
    for d in data:
        try:
            parse_packet(d)
            counts["ours"][0] += 1
        except OscParseError:
            counts["ours"][1] += 1
        except Exception as e:  # noqa: BLE001 - what the benchmark counts
            counts["ours"][2] += 1
            others["ours"].add(type(e).__name__)
        try:
            [m.message.params for m in OscPacket(d).messages]
            counts["python-osc"][0] += 1
        except ParseError:
            counts["python-osc"][1] += 1
        except Exception as e:  # noqa: BLE001
            counts["python-osc"][2] += 1
            others["python-osc"].add(type(e).__name__)
    root.handlers = propagate
    print(f"python-osc logged {counter.n} warning lines (one per bad datagram or argument, not rate-limited)")
    for name, (ok, parse_err, other) in counts.items():
        print(f"fuzz {n} datagrams, {name:<10}  accepted {ok:6d}   parse error {parse_err:6d}   "
              f"other exceptions {other:6d} {sorted(others[name]) or ''}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=20000)
    ap.add_argument("--fuzz", type=int, default=20000)
    ap.add_argument("--stars", default="12,14,16,18,20,22")
    a = ap.parse_args()
    bench_parse(a.messages)
    bench_patterns([int(x) for x in a.stars.split(",")])
    bench_fuzz(a.fuzz)


if __name__ == "__main__":
    main()
