"""Sends OSC from a separate process (python-osc's own client), so the receiver under test
shares no GIL with the sender.  Usage: python osc_sender.py PORT MODE [COUNT RATE]

  params   a handful of parameter messages, a generic address, a pattern, a bundle
  flood    COUNT messages /flood/<k % 8> <k> at RATE messages per second, paced every ms
  latency  COUNT messages /bench/latency <perf_counter at send, double>, one per ms
"""

from __future__ import annotations

import struct
import sys
import time

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient


def message(address, *args):
    b = OscMessageBuilder(address)
    for a in args:
        b.add_arg(a)
    return b.build()


def dgram(address, *args) -> bytes:
    """The datagram python-osc builds for one message."""
    return message(address, *args).dgram


def bundle(*elements: bytes) -> bytes:
    """An OSC bundle (timetag 1: immediately) of encoded elements."""
    out = b"#bundle\x00" + struct.pack(">Q", 1)
    for e in elements:
        out += struct.pack(">i", len(e)) + e
    return out


def main() -> None:
    port, mode = int(sys.argv[1]), sys.argv[2]
    client = SimpleUDPClient("127.0.0.1", port)
    if mode == "params":
        client.send_message("/lp/truncation", 0.25)
        client.send_message("/lp/xy", [0.2, 0.7])
        client.send_message("/lp/keyframe/next", [])
        client.send_message("/lp/keyframe", 3)
        client.send_message("/touchosc/fader1", 0.5)
        client.send_message("/lp/direction/*", 0.125)
        bundle = OscBundleBuilder(IMMEDIATELY)
        bundle.add_content(message("/lp/truncation", 0.75))
        bundle.add_content(message("/lp/tap"))
        inner = OscBundleBuilder(IMMEDIATELY)
        inner.add_content(message("/lp/direction/1", 0.5))
        bundle.add_content(inner.build())
        client.send(bundle.build())
        client.send_message("/lp/done", 1)  # unknown on purpose: the test's end marker
    elif mode == "flood":
        count, rate = int(sys.argv[3]), float(sys.argv[4])
        dgrams = [message(f"/flood/{k % 8}", k).dgram for k in range(count)]
        t0 = time.perf_counter()
        for k, d in enumerate(dgrams):
            due = t0 + k / rate
            while time.perf_counter() < due:  # pace: sleep to the next ms, not a spin
                time.sleep(max(0.0, min(0.001, due - time.perf_counter())))
            client._sock.sendto(d, ("127.0.0.1", port))
        print(f"{count / (time.perf_counter() - t0):.0f}", flush=True)
    elif mode == "latency":
        count = int(sys.argv[3])
        for _ in range(count):
            b = OscMessageBuilder("/bench/latency")
            b.add_arg(time.perf_counter(), "d")  # float32 cannot hold a monotonic time to the us
            client.send(b.build())
            time.sleep(0.001)
    else:
        raise SystemExit(f"unknown mode {mode!r}")


if __name__ == "__main__":
    main()
