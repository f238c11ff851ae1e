"""Several instances in step: one leader, any number of followers, over UDP.

Rendering is deterministic: the same patch, the same control events at the same frame indices
and the same frame clock give the same pictures (what offline rendering already relies on).  So
the instances run in lockstep: frame k is rendered with time k / fps and presented at the wall
time `t0 + (k - k0) / fps` (the leader's schedule, sent with every packet), and the leader sends
the events its inputs produced.  Every instance, the leader included, applies the events drained
at tick k to frame k + `delay` frames, so a follower has them before it must present that frame.

The wire: one JSON datagram per leader tick (a few hundred bytes; no code, no pickle),

    {"v": 1, "s": session, "k": tick, "b": [k0, t0, fps], "d": delay, "w": wall time sent,
     "lo": first frame covered, "e": {"<frame>": [[source, address, value], ...], ...}}

covering the frames `lo .. k + delay` (the last `redundancy` of them), so one lost datagram loses
nothing.  Sent to a multicast group (TTL 1: the local network) or to a list of unicast addresses.

Wall times are `time.time()`: on one machine they are the same clock; across machines keep them
in step with NTP/chrony (a LAN keeps them within a millisecond or two, far below a frame).  The
follower also measures the one-way delay (received minus sent) and reports it.

A follower that hears nothing for `lost_after` seconds holds its last frame and waits; the same
leader coming back is followed on (missed events are counted); a new session (a restarted
leader) makes it start again from the leader's frame 0 (the caller rebuilds its show).
"""

from __future__ import annotations

import ipaddress
import json
import os
import socket
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass

__all__ = ["DEFAULT_PORT", "parse_address", "SyncLeader", "SyncFollower", "FollowerPlan"]

DEFAULT_PORT = 9410
DELAY_FRAMES = 3          # events drained at tick k shape frame k + 3 (100 ms at 30 fps)
REDUNDANCY = 16           # each packet repeats the events of this many frames
LOST_AFTER_S = 1.0
MAX_DATAGRAM = 60000
VERSION = 1


def parse_address(text: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """"HOST:PORT", ":PORT" or "PORT" -> (host, port); raises ValueError naming what is wrong."""
    text = str(text).strip()
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = "", text
    host = host.strip("[]") or default_host
    try:
        p = int(port)
    except ValueError:
        raise ValueError(f'expected "HOST:PORT" or a port number, got "{text}"') from None
    if not 1 <= p <= 65535:
        raise ValueError(f"expected a port from 1 to 65535, got {p}")
    return host, p


def is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


def _encode_value(v):
    return list(v) if isinstance(v, tuple) else v


def _decode_value(v):
    if isinstance(v, list):
        return tuple(float(x) for x in v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"bad value {v!r}")
    return float(v)


class SyncLeader:
    """The leader's side.  `begin(fps)` fixes the schedule; then once per tick
    `tick(k, events) -> events due at frame k` sends the packet and returns what to apply now
    (the events drained `delay` ticks ago).  `events` are (source, address, value) triples."""

    def __init__(self, targets: list[tuple[str, int]], *, delay: int = DELAY_FRAMES,
                 redundancy: int = REDUNDANCY, ttl: int = 1, session: str | None = None) -> None:
        if not targets:
            raise ValueError("a leader needs somewhere to send (a multicast group or addresses)")
        self.targets = list(targets)
        self.delay = int(delay)
        self.redundancy = max(int(redundancy), self.delay + 1)
        self.session = session or os.urandom(6).hex()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        self.sock.setblocking(False)
        self.base: tuple[int, float, float] | None = None
        self.sent = 0
        self.send_errors = 0
        self.last_error: str | None = None
        self._frames: dict[int, list] = {}   # target frame -> its events

    def begin(self, fps: float, start: float | None = None, k0: int = 0) -> tuple[int, float, float]:
        """Frame k0 is presented at `start` (default: 0.2 s from now); returns (k0, t0, fps)."""
        self.base = (int(k0), time.time() + 0.2 if start is None else float(start), float(fps))
        return self.base

    def announce(self) -> None:
        """A packet before the first tick (tick -1, no events): followers hear the new session
        and its schedule while the leader is still getting ready."""
        self.tick(-1, ())

    def rebase(self, k: int, fps: float | None = None, lead: float = 0.0) -> None:
        """A new schedule from frame k (the show fell behind, or changed its frame rate)."""
        _, _, old_fps = self.base
        self.base = (int(k), time.time() + lead, float(fps or old_fps))

    def when(self, k: int) -> float:
        k0, t0, fps = self.base
        return t0 + (k - k0) / fps

    def tick(self, k: int, events) -> list[tuple]:
        target = k + self.delay
        self._frames[target] = [(s, a, v) for s, a, v in events]
        lo = target - self.redundancy + 1
        for old in [f for f in self._frames if f < lo]:
            del self._frames[old]
        packet = {"v": VERSION, "s": self.session, "k": k, "b": list(self.base), "d": self.delay,
                  "w": time.time(), "lo": lo,
                  "e": {str(f): [[s, a, _encode_value(v)] for s, a, v in evs]
                        for f, evs in self._frames.items() if f >= lo and evs}}
        data = json.dumps(packet, separators=(",", ":")).encode()
        while len(data) > MAX_DATAGRAM and packet["e"]:  # a burst of events: drop the oldest repeats
            oldest = min(packet["e"], key=int)
            del packet["e"][oldest]
            packet["lo"] = int(oldest) + 1
            data = json.dumps(packet, separators=(",", ":")).encode()
        for addr in self.targets:
            try:
                self.sock.sendto(data, addr)
                self.sent += 1
            except OSError as e:  # a follower's address unreachable must not stop the show
                self.send_errors += 1
                self.last_error = f"sync: cannot send to {addr[0]}:{addr[1]}: {e.strerror or e}"
        return list(self._frames.get(k, ()))  # kept: the next packets repeat it

    def close(self) -> None:
        self.sock.close()


@dataclass(frozen=True)
class FollowerPlan:
    """What the follower does next.  action: "wait" (no leader yet), "hold" (leader lost, or
    the next frame's events are not here yet), "reset" (a new leader session: start again at
    `frame`), "render" (render `frame` and present it at wall time `at`, with `events`)."""

    action: str
    frame: int = 0
    at: float = 0.0
    events: tuple = ()
    session: str | None = None


class SyncFollower:
    """The follower's side: a thread receives the leader's packets; `plan(next_frame)` says what
    to do with the next frame (see FollowerPlan)."""

    def __init__(self, listen: tuple[str, int], *, lost_after: float = LOST_AFTER_S) -> None:
        host, port = listen
        self.lost_after = float(lost_after)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if is_multicast(host):
            self.sock.bind(("", port))
            mreq = struct.pack("4s4s", socket.inet_aton(host), socket.inet_aton("0.0.0.0"))
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        else:
            self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.session: str | None = None        # the session being followed
        self.base: tuple[int, float, float] | None = None
        self.newest_tick = -1
        self.complete_upto = -1                # frames up to here have all their events
        self.heard_at: float | None = None     # monotonic time of the last packet
        self.received = 0
        self.bad = 0
        self.lost_frames = 0                   # frames whose events never arrived
        self.delays: deque = deque(maxlen=512) # one-way delay samples (received - sent), seconds
        self.last_error: str | None = None
        self._events: dict[int, list] = {}
        self._reset = False                    # a new session heard: plan() says "reset" once
        self._lock = threading.Lock()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lp-sync-follower", daemon=True)
        self._thread.start()

    # -- receiving ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self._closed:
                    return
                continue
            now_wall, now = time.time(), time.monotonic()
            try:
                self._take(json.loads(data), now_wall, now)
            except (ValueError, KeyError, TypeError) as e:  # a stray or broken datagram is counted
                self.bad += 1
                self.last_error = f"sync: ignored a bad datagram ({e})"

    def _take(self, p: dict, now_wall: float, now: float) -> None:
        if p.get("v") != VERSION:
            raise ValueError(f"version {p.get('v')!r}")
        session, k, lo = str(p["s"]), int(p["k"]), int(p["lo"])
        k0, t0, fps = (float(x) for x in p["b"])
        delay = int(p["d"])
        frames = {int(f): [(str(s), str(a), _decode_value(v)) for s, a, v in evs] for f, evs in p["e"].items()}
        with self._lock:
            self.received += 1
            self.heard_at = now
            self.delays.append(now_wall - float(p["w"]))
            if session != self.session:  # a (re)started leader: its frame 0 is everyone's
                self.session = session
                self._events = {}
                self.complete_upto = -1
                self.newest_tick = -1
                self._reset = True
            self.base = (int(k0), t0, fps)
            first_missing = self.complete_upto + 1
            if lo > first_missing:  # older than the repeats: a gap, or a late join
                self.lost_frames += lo - first_missing
            self._merge(self._events, frames, max(lo, first_missing), k + delay)
            self.newest_tick = max(self.newest_tick, k)
            self.complete_upto = max(self.complete_upto, k + delay)

    @staticmethod
    def _merge(store: dict, frames: dict, lo: int, hi: int) -> None:
        for f in range(lo, hi + 1):
            if f not in store:
                store[f] = frames.get(f, [])
        # frames already complete keep what they had: every packet carries the same list for them

    # -- deciding ------------------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.heard_at is not None and time.monotonic() - self.heard_at < self.lost_after

    def plan(self, next_frame: int) -> FollowerPlan:
        with self._lock:
            if self.session is None:
                return FollowerPlan("wait")
            if self._reset:
                self._reset = False
                return FollowerPlan("reset", frame=0, session=self.session)
            if not self.connected or next_frame > self.complete_upto:
                return FollowerPlan("hold", frame=next_frame, session=self.session)
            events = tuple(self._events.pop(next_frame, ()))
            for old in [f for f in self._events if f < next_frame]:
                del self._events[old]
            k0, t0, fps = self.base
            return FollowerPlan("render", frame=next_frame, at=t0 + (next_frame - k0) / fps, events=events,
                                session=self.session)

    def figures(self) -> dict:
        d = sorted(self.delays)
        return {"session": self.session, "connected": self.connected, "received": self.received,
                "bad": self.bad, "lost_frames": self.lost_frames, "newest_tick": self.newest_tick,
                "delay_ms_median": d[len(d) // 2] * 1e3 if d else None}

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        self._thread.join(1.0)
