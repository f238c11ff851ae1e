"""Several instances in step: one leader, any number of followers, over UDP.

Rendering is deterministic: the same patch, the same control events at the same frame indices
and the same frame clock give the same pictures (what offline rendering already relies on).  So
the instances run in lockstep: frame k is rendered with time k / fps and presented at the wall
time `t0 + (k - k0) / fps` (the leader's schedule, sent with every packet), and the leader sends
the events its inputs produced.  Every instance, the leader included, applies the events drained
at tick k to frame k + `delay` frames, so a follower has them before it must present that frame.

The wire: one JSON datagram per leader tick (a few hundred bytes; no code, no pickle),

    {"v": 1, "s": session, "k": tick, "b": [k0, t0, fps], "d": delay, "w": wall time sent,
     "lo": first frame covered, "e": {"<frame>": [[source, address, value], ...], ...},
     "c": catch-up port, "h": [[frame, checksum of its pixels], ...] (the last frames presented)}

covering the frames `lo .. k + delay` (the last `redundancy` of them), so one lost datagram loses
nothing.  Sent to a multicast group (TTL 1: the local network) or to a list of unicast addresses.

Wall times are `time.time()`: on one machine they are the same clock; across machines keep them
in step with NTP/chrony (a LAN keeps them within a millisecond or two, far below a frame).  The
follower also measures the one-way delay (received minus sent) and reports it.

A follower that hears nothing for `lost_after` seconds holds its last frame and waits; the same
leader coming back is followed on; a new session (a restarted leader) makes it start again from
the leader's frame 0 (the caller rebuilds its show).

Catching up (a follower started after its leader, restarted alone, or back from a gap longer
than the repeats): the leader keeps its session's events (every frame that had any, up to
`log_limit` events) and serves them over TCP (`serve`, announced in every packet as "c": its
port; the follower connects to the packet's source address).  One JSON line each way:

    request  {"v": 1, "s": session, "from": a, "to": b}
    reply    {"v": 1, "s": session, "from": a, "to": c, "e": {"<frame>": [...], ...}}   (c <= b)
             {"v": 1, "error": "..."}  or  {"v": 1, "gone": first frame still kept}

The follower fills every gap in what it knows that way (no further than `fetch_ahead` frames
ahead of its show, so a long catch-up does not pile up in memory), so it has the events of every
frame from 0 and can render them all (the caller renders the late ones without presenting them) and
then present in step.  A gap it cannot fill (no server, unreachable, the log trimmed) is
counted in `lost_frames` and passed over (the old rule: the show goes on; its pictures may then
differ from the leader's until the leader's next session).

Multicast: the leader sends from `interface` (IP_MULTICAST_IF) and a follower joins the group on
`interface`; unset, both take `default_interface(group)`: the address the system routes the
group from (its default route's interface), 127.0.0.1 when it has none.
"""

from __future__ import annotations

import bisect
import ipaddress
import json
import os
import socket
import struct
import threading
import time
from array import array
from collections import deque
from dataclasses import dataclass

__all__ = ["DEFAULT_PORT", "parse_address", "default_interface", "SyncLeader", "SyncFollower", "FollowerPlan"]

DEFAULT_PORT = 9410
DELAY_FRAMES = 3          # events drained at tick k shape frame k + 3 (100 ms at 30 fps)
REDUNDANCY = 16           # each packet repeats the events of this many frames
LOST_AFTER_S = 1.0
MAX_DATAGRAM = 60000
VERSION = 1
LOG_LIMIT = 4_000_000     # events the leader keeps for late joiners (~65 bytes each: ~260 MB at most)
REPLY_FRAMES = 20000      # frames per catch-up reply (the follower asks again for the rest)
FETCH_AHEAD = 60000       # a follower fetches events at most this many frames ahead of its show
FETCH_TIMEOUT_S = 3.0
MAX_REQUEST = 4096


def parse_address(text: str, default_host: str = "127.0.0.1", lowest: int = 1) -> tuple[str, int]:
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
    if not lowest <= p <= 65535:
        raise ValueError(f"expected a port from {lowest} to 65535, got {p}")
    return host, p


def is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


def default_interface(group: str | None = None) -> str:
    """The local address multicast to `group` leaves from: the one the system's routing picks
    (the default route's interface on a LAN), 127.0.0.1 when nothing routes it (no network)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((group or "239.255.76.80", DEFAULT_PORT))  # a UDP connect sends nothing
        host = s.getsockname()[0]
    except OSError:
        host = "0.0.0.0"
    finally:
        s.close()
    return "127.0.0.1" if host in ("0.0.0.0", "") else host


def route_source(host: str) -> str:
    """The local address this machine uses to reach `host` (127.0.0.1 for the loopback)."""
    if is_multicast(host):
        return default_interface(host)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect((host, DEFAULT_PORT))
        return s.getsockname()[0]
    except OSError:
        return "127.0.0.1"
    finally:
        s.close()


def check_interface(interface: str) -> str:
    try:
        socket.inet_aton(interface)
    except OSError:
        raise ValueError(f'expected the IPv4 address of an interface, got "{interface}"') from None
    return interface


class _Covered:
    """Frames known, as merged [lo, hi] ranges."""

    def __init__(self) -> None:
        self.ranges: list[list[int]] = []

    def add(self, lo: int, hi: int) -> None:
        if hi < lo:
            return
        out: list[list[int]] = []
        placed = False
        for a, b in self.ranges:
            if b + 1 < lo:
                out.append([a, b])
            elif hi + 1 < a:
                if not placed:
                    out.append([lo, hi])
                    placed = True
                out.append([a, b])
            else:
                lo, hi = min(lo, a), max(hi, b)
        if not placed:
            out.append([lo, hi])
        out.sort()
        self.ranges = out

    def upto(self) -> int:
        """Every frame from 0 to this one is known (-1: not frame 0)."""
        return self.ranges[0][1] if self.ranges and self.ranges[0][0] <= 0 else -1

    def has(self, f: int) -> bool:
        return any(a <= f <= b for a, b in self.ranges)

    def first_gap(self) -> tuple[int, int] | None:
        """The first unknown frames below the newest known one."""
        if not self.ranges:
            return None
        if self.ranges[0][0] > 0:
            return 0, self.ranges[0][0] - 1
        if len(self.ranges) > 1:
            return self.ranges[0][1] + 1, self.ranges[1][0] - 1
        return None


def _encode_value(v):
    return list(v) if isinstance(v, tuple) else v


def _decode_value(v):
    if isinstance(v, list):
        return tuple(float(x) for x in v)
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ValueError(f"bad value {v!r}")
    return float(v)




def _encode_events(evs) -> list:
    return [[s, a, _encode_value(v)] for s, a, v in evs]


def _decode_frames(e: dict) -> dict[int, list]:
    return {int(f): [(str(s), str(a), _decode_value(v)) for s, a, v in evs] for f, evs in e.items()}


def _read_line(conn: socket.socket, limit: int) -> bytes:
    buf = bytearray()
    while b"\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            break
        buf += chunk
        if len(buf) > limit:
            raise ValueError(f"a line longer than {limit} bytes")
    return bytes(buf).split(b"\n", 1)[0]


class _EventLog:
    """A leader's session events for late joiners, compact: the frames that had events (ascending),
    where each one's entry ends in one byte buffer, and how many events it had.  An entry is
    `,"<frame>":[[source, address, value], ...]`, so the entries of a run of frames are one slice,
    a reply's "e" as it is (no work per frame, and the engine's lock held only for a copy).  About
    20 bytes a frame besides the JSON (a dict of lists took ~275 bytes an event).  Past `limit`
    events the oldest tenth is let go (`floor` moves up)."""

    def __init__(self, limit: int) -> None:
        self.limit = int(limit)
        self.frames = array("q")
        self.ends = array("q")      # end offset of each frame's JSON in data (minus `base`)
        self.counts = array("l")
        self.data = bytearray()
        self.base = 0               # offset of data[0] in the offsets (grows when the front is let go)
        self.events = 0
        self.floor = 0              # frames below were let go

    def __len__(self) -> int:
        return len(self.frames)

    def add(self, frame: int, evs: list) -> None:
        self.data += f',"{int(frame)}":'.encode() + json.dumps(_encode_events(evs), separators=(",", ":")).encode()
        self.frames.append(frame)
        self.ends.append(self.base + len(self.data))
        self.counts.append(len(evs))
        self.events += len(evs)
        if self.events > self.limit:
            self._let_go()

    def _let_go(self) -> None:
        drop, gone = 0, 0
        while drop < len(self.frames) and (self.events - gone > self.limit or gone < self.limit // 10):
            gone += self.counts[drop]
            drop += 1
        self.floor = self.frames[drop - 1] + 1
        cut = self.ends[drop - 1] - self.base
        del self.frames[:drop], self.ends[:drop], self.counts[:drop], self.data[:cut]
        self.base += cut
        self.events -= gone

    def between(self, a: int, c: int) -> bytes:
        """The entries of the frames a..c that had events, as the inside of a JSON object."""
        i, j = bisect.bisect_left(self.frames, a), bisect.bisect_right(self.frames, c)
        if i >= j:
            return b""
        start = (self.ends[i - 1] if i > 0 else self.base) - self.base
        return bytes(self.data[start + 1:self.ends[j - 1] - self.base])   # without the first comma


class SyncLeader:
    """The leader's side.  `begin(fps)` fixes the schedule; then once per tick
    `tick(k, events) -> events due at frame k` sends the packet and returns what to apply now
    (the events drained `delay` ticks ago).  `events` are (source, address, value) triples.

    interface  multicast leaves from this local address (default: `default_interface`)
    serve      (host, port) of the catch-up server ("" host: the address the leader sends from,
               127.0.0.1 for followers on this machine; port 0: any free one, announced in the
               packets); None: no catch-up (a late follower's missed frames are lost)
    log_limit  events kept for late joiners; beyond it the oldest frames are let go
    """

    def __init__(self, targets: list[tuple[str, int]], *, delay: int = DELAY_FRAMES,
                 redundancy: int = REDUNDANCY, ttl: int = 1, session: str | None = None,
                 interface: str | None = None, serve: tuple[str, int] | None = ("", 0),
                 log_limit: int = LOG_LIMIT) -> None:
        if not targets:
            raise ValueError("a leader needs somewhere to send (a multicast group or addresses)")
        self.targets = list(targets)
        self.delay = int(delay)
        self.redundancy = max(int(redundancy), self.delay + 1)
        self.session = session or os.urandom(6).hex()
        self.interface = check_interface(interface) if interface else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
        self.multicast_interface = None
        groups = [h for h, _ in self.targets if is_multicast(h)]
        if groups:
            self.multicast_interface = self.interface or default_interface(groups[0])
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                 socket.inet_aton(self.multicast_interface))
        self.sock.setblocking(False)
        self.base: tuple[int, float, float] | None = None
        self.sent = 0
        self.send_errors = 0
        self.served = 0
        self.last_error: str | None = None
        self._frames: dict[int, list] = {}   # target frame -> its events (the repeats)
        self._pictures: deque = deque(maxlen=self.redundancy)   # (frame, checksum) presented last
        # the session's events, for followers that catch up
        self.log_limit = int(log_limit)
        self._log = _EventLog(self.log_limit)
        self._log_upto = -1
        self._log_lock = threading.Lock()
        self._closed = False
        self.server = None
        self.serve_address: tuple[str, int] | None = None
        if serve is not None:
            host, port = serve
            host = host or self.multicast_interface or self.interface or route_source(self.targets[0][0])
            self.server = socket.create_server((host, int(port)), backlog=16)
            self.server.settimeout(0.25)
            self.serve_address = self.server.getsockname()[:2]
            self._server_thread = threading.Thread(target=self._serve, name="lp-sync-catchup", daemon=True)
            self._server_thread.start()

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
        evs = [(s, a, v) for s, a, v in events]
        self._frames[target] = evs
        self._keep(target, evs)
        lo = target - self.redundancy + 1
        for old in [f for f in self._frames if f < lo]:
            del self._frames[old]
        packet = {"v": VERSION, "s": self.session, "k": k, "b": list(self.base), "d": self.delay,
                  "w": time.time(), "lo": lo,
                  "e": {str(f): _encode_events(fe) for f, fe in self._frames.items() if f >= lo and fe}}
        if self.serve_address is not None:
            packet["c"] = self.serve_address[1]
        if self._pictures:
            packet["h"] = [list(fh) for fh in self._pictures]
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

    def picture(self, frame: int, checksum: int) -> None:
        """The checksum of a frame the leader presented: followers compare theirs with it."""
        self._pictures.append((int(frame), int(checksum)))

    # -- the session's log, served to followers that catch up ----------------------------------

    def _keep(self, target: int, evs: list) -> None:
        with self._log_lock:
            if target <= self._log_upto:
                return
            self._log_upto = target
            if not evs:
                return
            self._log.add(target, evs)

    def reply(self, request: dict) -> dict:
        """The answer to one catch-up request (see the module docstring)."""
        return json.loads(self._reply_text(request))

    def _reply_text(self, request) -> str:
        """The answer as its JSON line (the log's texts joined, not decoded and encoded again)."""
        answer = self._answer(request)
        if isinstance(answer, dict):
            return json.dumps(answer, separators=(",", ":"))
        a, c, e = answer
        return f'{{"v":{VERSION},"s":{json.dumps(self.session)},"from":{a},"to":{c},"e":{{{e.decode()}}}}}'

    def _answer(self, request):
        """An error / "gone" answer (a dict), or (from, to, the entries of "e" as bytes)."""
        if not isinstance(request, dict) or request.get("v") != VERSION:
            return {"v": VERSION, "error": "expected a version 1 request"}
        if request.get("s") != self.session:
            return {"v": VERSION, "error": f"not this session (this is {self.session})"}
        a, b = request.get("from"), request.get("to")
        if isinstance(a, bool) or isinstance(b, bool) or not isinstance(a, int) or not isinstance(b, int) \
                or a < 0 or b < a:
            return {"v": VERSION, "error": "expected whole frame numbers 0 <= from <= to"}
        with self._log_lock:
            if a < self._log.floor:
                return {"v": VERSION, "s": self.session, "gone": self._log.floor}
            c = min(b, self._log_upto, a + REPLY_FRAMES - 1)
            if c < a:
                return {"v": VERSION, "error": f"frame {a} is not there yet (newest {self._log_upto})"}
            entries = self._log.between(a, c)
        return a, c, entries

    def _serve(self) -> None:
        while not self._closed:
            try:
                conn, _ = self.server.accept()
            except socket.timeout:
                continue
            except OSError:
                if self._closed:
                    return
                time.sleep(0.05)
                continue
            with conn:
                try:
                    conn.settimeout(FETCH_TIMEOUT_S)
                    try:
                        text = self._reply_text(json.loads(_read_line(conn, MAX_REQUEST)))
                    except ValueError as e:  # not JSON, or too long: said, and the show goes on
                        text = json.dumps({"v": VERSION, "error": f"bad request ({e})"})
                    conn.sendall(text.encode() + b"\n")
                    self.served += 1
                except OSError:
                    continue   # a follower that went away mid-reply

    def close(self) -> None:
        self._closed = True
        self.sock.close()
        if self.server is not None:
            self.server.close()
            self._server_thread.join(1.0)


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
    """The follower's side: a thread receives the leader's packets, another fetches from the
    leader what the packets did not bring (catch-up); `plan(next_frame)` says what to do with
    the next frame (see FollowerPlan).

    interface  a multicast group is joined on this local address (default: `default_interface`)
    fetch      False: never ask the leader for missed frames (they are counted as lost)
    """

    def __init__(self, listen: tuple[str, int], *, lost_after: float = LOST_AFTER_S,
                 interface: str | None = None, fetch: bool = True, fetch_ahead: int = FETCH_AHEAD) -> None:
        host, port = listen
        self.lost_after = float(lost_after)
        self.fetch = bool(fetch)
        self.fetch_ahead = max(int(fetch_ahead), 1)   # memory: what is fetched waits in _events
        self._next = 0                                # the frame the show asks for next (plan)
        self.interface = check_interface(interface) if interface else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.group = host if is_multicast(host) else None
        if self.group is not None:
            self.interface = self.interface or default_interface(host)
            self.sock.bind((host, port))   # the group's address: only its datagrams (Linux)
            mreq = struct.pack("4s4s", socket.inet_aton(host), socket.inet_aton(self.interface))
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
        else:
            self.sock.bind((host, port))
        self.sock.settimeout(0.2)
        self.address = self.sock.getsockname()
        self.session: str | None = None        # the session being followed
        self.base: tuple[int, float, float] | None = None
        self.newest_tick = -1
        self.leader_at: tuple[str, int] | None = None   # the leader's catch-up server
        self.heard_at: float | None = None     # monotonic time of the last packet
        self.received = 0
        self.bad = 0
        self.lost_frames = 0                   # frames whose events never arrived
        self.fetched_frames = 0                # frames whose events came from the leader's log
        self.fetches = 0
        self.delays: deque = deque(maxlen=512) # one-way delay samples (received - sent), seconds
        self.last_error: str | None = None
        self._events: dict[int, list] = {}
        self._pictures: dict[int, int] = {}    # frame -> the leader's checksum of it (recent ones)
        self._covered = _Covered()
        self._reset = False                    # a new session heard: plan() says "reset" once
        self._lock = threading.Lock()
        self._gap = threading.Event()
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="lp-sync-follower", daemon=True)
        self._thread.start()
        self._fetcher = threading.Thread(target=self._fetch_loop, name="lp-sync-fetch", daemon=True)
        self._fetcher.start()

    @property
    def complete_upto(self) -> int:
        """Frames 0 .. this one have all their events here (-1: not frame 0 yet)."""
        with self._lock:
            return self._covered.upto()

    # -- receiving ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        while not self._closed:
            try:
                data, src = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                if self._closed:
                    return
                continue
            now_wall, now = time.time(), time.monotonic()
            try:
                self._take(json.loads(data), now_wall, now, src[0])
            except (ValueError, KeyError, TypeError) as e:  # a stray or broken datagram is counted
                self.bad += 1
                self.last_error = f"sync: ignored a bad datagram ({e})"

    def _take(self, p: dict, now_wall: float, now: float, src: str = "127.0.0.1") -> None:
        if p.get("v") != VERSION:
            raise ValueError(f"version {p.get('v')!r}")
        session, k, lo = str(p["s"]), int(p["k"]), int(p["lo"])
        k0, t0, fps = (float(x) for x in p["b"])
        delay = int(p["d"])
        frames = _decode_frames(p["e"])
        c = p.get("c")
        if c is not None and (isinstance(c, bool) or not isinstance(c, int) or not 1 <= c <= 65535):
            raise ValueError(f"bad catch-up port {c!r}")
        pictures = [(int(f), int(h)) for f, h in p.get("h", ())]
        with self._lock:
            self.received += 1
            self.heard_at = now
            self.delays.append(now_wall - float(p["w"]))
            if session != self.session:  # a (re)started leader: its frame 0 is everyone's
                self.session = session
                self._events = {}
                self._pictures = {}
                self._covered = _Covered()
                self.newest_tick = -1
                self._next = 0
                self._reset = True
            self.base = (int(k0), t0, fps)
            self.leader_at = (src, c) if c is not None else None
            lo, hi = max(lo, 0), k + delay
            for f, evs in frames.items():
                if lo <= f <= hi and evs and not self._covered.has(f):
                    self._events[f] = evs
            self._covered.add(lo, hi)
            self._pictures.update(pictures)
            if len(self._pictures) > 4 * REDUNDANCY * 4:
                newest = max(self._pictures)
                self._pictures = {f: h for f, h in self._pictures.items() if f > newest - 4 * REDUNDANCY}
            self.newest_tick = max(self.newest_tick, k)
            gap = self._covered.first_gap()
            if gap is not None:
                if self.fetch and self.leader_at is not None:
                    self._gap.set()
                else:
                    self._lose(gap)

    def _lose(self, gap: tuple[int, int]) -> None:
        """Frames whose events will not come: passed over, counted (call with the lock held)."""
        self.lost_frames += gap[1] - gap[0] + 1
        self._covered.add(*gap)

    # -- catching up ---------------------------------------------------------------------------------

    def _fetch_loop(self) -> None:
        while not self._closed:
            with self._lock:
                gap = self._covered.first_gap() if self.fetch and self.leader_at is not None else None
                session, at = self.session, self.leader_at
                if gap is not None:   # no further ahead of the show than fetch_ahead (memory)
                    reach = self._next + self.fetch_ahead
                    gap = None if gap[0] > reach else (gap[0], min(gap[1], reach))
            if gap is None:
                self._gap.wait(0.1)
                self._gap.clear()
                continue
            try:
                answer = self._ask(at, session, gap)
            except (OSError, ValueError, KeyError, TypeError) as e:
                with self._lock:
                    if session == self.session:
                        self._lose(gap)
                        self.last_error = (f"sync: cannot fetch frames {gap[0]}..{gap[1]} from the leader at "
                                           f"{at[0]}:{at[1]} ({e}); their events are lost")
                continue
            with self._lock:
                if session != self.session:
                    continue
                if "gone" in answer:        # the leader let go of those frames (its log_limit)
                    floor = int(answer["gone"])
                    self._lose((gap[0], max(min(floor - 1, gap[1]), gap[0])))
                    self.last_error = f"sync: the leader no longer has frames below {floor}; their events are lost"
                    continue
                a, c = int(answer["from"]), int(answer["to"])
                for f, evs in _decode_frames(answer["e"]).items():
                    if a <= f <= c and evs and not self._covered.has(f):
                        self._events[f] = evs
                self._covered.add(a, c)
                self.fetched_frames += c - a + 1
                self.fetches += 1

    def _ask(self, at: tuple[str, int], session: str, gap: tuple[int, int]) -> dict:
        with socket.create_connection(at, timeout=FETCH_TIMEOUT_S) as conn:
            conn.sendall(json.dumps({"v": VERSION, "s": session, "from": gap[0], "to": gap[1]}).encode() + b"\n")
            answer = json.loads(_read_line(conn, 1 << 30))
        if not isinstance(answer, dict):
            raise ValueError("not an answer")
        if "error" in answer:
            raise ValueError(str(answer["error"])[:200])
        if "gone" not in answer and not (int(answer["from"]) == gap[0] and gap[0] <= int(answer["to"]) <= gap[1]):
            raise ValueError("an answer for other frames")
        return answer

    def leader_picture(self, frame: int) -> int | None:
        """The leader's checksum of `frame`'s pixels, when a recent packet had it."""
        with self._lock:
            return self._pictures.get(frame)

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
            self._next = next_frame   # the fetcher (it looks every 0.1 s) may go further now
            if not self.connected or next_frame > self._covered.upto():
                return FollowerPlan("hold", frame=next_frame, session=self.session)
            events = tuple(self._events.pop(next_frame, ()))
            if next_frame % 256 == 0:   # frames passed over (a reset mid-way) are let go now and then
                for old in [f for f in self._events if f < next_frame]:
                    del self._events[old]
            k0, t0, fps = self.base
            return FollowerPlan("render", frame=next_frame, at=t0 + (next_frame - k0) / fps, events=events,
                                session=self.session)

    def figures(self) -> dict:
        d = sorted(self.delays)
        return {"session": self.session, "connected": self.connected, "received": self.received,
                "bad": self.bad, "lost_frames": self.lost_frames, "fetched_frames": self.fetched_frames,
                "newest_tick": self.newest_tick, "delay_ms_median": d[len(d) // 2] * 1e3 if d else None}

    def close(self) -> None:
        self._closed = True
        self._gap.set()
        self.sock.close()
        self._thread.join(1.0)
        self._fetcher.join(FETCH_TIMEOUT_S + 1.0)
