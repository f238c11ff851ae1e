"""Three instances in step on the loopback: frame-index and presentation-time differences, and a
leader killed with kill -9 and started again.

    python bench/sync.py                   # 2 followers, a leader for 20 s, kill -9, a new leader for 20 s
    python bench/sync.py --seconds 8 --followers 1
    python bench/sync.py --late 3              # a follower joins a leader already playing, then is
                                               # killed -9 and started again (catching up twice)
    python bench/sync.py --link                # the leader follows an Ableton Link peer (this process)
    python bench/sync.py --rates patches/default.toml   # how fast a follower catches up with a patch

Each instance is a real `latentperform run --headless --sync ...` process; each writes, per
presented frame, its index, the wall time of the present, a checksum of the pixels and the
leader's session (the hidden `--present-log` option).  Printed per follower and leader session:
frames in common, frames identical (checksums), presentation-time difference to the leader
(median, p99, max), frame-index difference at the same moment (p99), the holding time.
"""

from __future__ import annotations

import argparse
import bisect
import csv
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))   # this checkout's latentperform (the Link peer of --link)

SMALL_PATCH = """[model]
kind = "builtin"
resolution = 32
[output]
size = [96, 64]
fps = {fps}
shaders = ["feedback"]
[trajectory]
walk = 0.3
"""


def free_ports(n: int) -> list[int]:
    socks = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def start(folder: Path, patch: Path, name: str, sync_args: list[str], seconds: float,
          osc_port: int = 0) -> subprocess.Popen:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    cmd = [sys.executable, "-m", "latentperform.cli", "run", "--headless", "--no-audio", "--no-watch",
           "--osc-port", str(osc_port), "--seconds", str(seconds), "--present-log", str(folder / f"{name}.csv"),
           *sync_args, str(patch)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=open(folder / f"{name}.out", "w"),
                            stderr=subprocess.STDOUT)


def send_osc(port: int, message: tuple[str, float]) -> None:
    from pythonosc.udp_client import SimpleUDPClient
    SimpleUDPClient("127.0.0.1", port).send_message(*message)


def wait_for_line(path: Path, text: str, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if path.exists() and text in path.read_text():
            return True
        time.sleep(0.1)
    return False


def read_log(path: Path) -> dict[str, dict[int, tuple[float, int]]]:
    """session -> frame -> (presented wall time, checksum)."""
    out: dict[str, dict[int, tuple[float, int]]] = {}
    if path.exists():
        for row in csv.reader(path.open()):
            if len(row) >= 4:
                out.setdefault(row[3], {})[int(row[0])] = (float(row[1]), int(row[2]))
    return out


def compare(leader: dict[int, tuple[float, int]], follower: dict[int, tuple[float, int]], fps: float) -> dict:
    common = sorted(set(leader) & set(follower))
    if not common:
        return {"common": 0}
    dt = sorted(abs(follower[k][0] - leader[k][0]) for k in common)
    # the frame each shows at the same moments: a grid of times, a quarter frame apart, over the
    # time both were presenting; at each, the newest frame each had presented by then
    def shown(frames):
        seq = sorted((t, k) for k, (t, _) in frames.items())
        return [t for t, _ in seq], [k for _, k in seq]
    lt, lk = shown({k: leader[k] for k in common})
    ft, fk = shown({k: follower[k] for k in common})
    didx = []
    # the grid starts an eighth of a frame after the first present, so its points fall between
    # presents, not on them (on them, which of two presents 0.1 ms apart came first decides)
    step = 0.25 / fps
    tau = max(lt[0], ft[0]) + step / 2
    while tau <= min(lt[-1], ft[-1]):
        i, j = bisect.bisect_right(lt, tau) - 1, bisect.bisect_right(ft, tau) - 1
        didx.append(abs(lk[i] - fk[j]))
        tau += step
    warm = [abs(follower[k][0] - leader[k][0]) for k in common if k >= fps]  # after the first second
    warm.sort()
    didx.sort()
    p = lambda xs, q: xs[min(len(xs) - 1, int(q * len(xs)))]  # noqa: E731
    return {"common": len(common), "identical": sum(leader[k][1] == follower[k][1] for k in common),
            "dt_median_ms": p(dt, 0.5) * 1e3, "dt_p99_ms": p(dt, 0.99) * 1e3, "dt_max_ms": dt[-1] * 1e3,
            "dt_p99_warm_ms": p(warm, 0.99) * 1e3 if warm else None,
            "frame_diff_p99": p(didx, 0.99) if didx else None,
            "same_frame": sum(d == 0 for d in didx) / len(didx) if didx else None, "period_ms": 1e3 / fps}


def run(folder: Path, *, followers: int = 2, seconds: float = 20.0, fps: float = 10.0, restart: bool = True) -> dict:
    patch = folder / "small.toml"
    patch.write_text(SMALL_PATCH.format(fps=fps))
    *ports, osc = free_ports(followers + 1)
    procs = []
    try:
        total = seconds * (2 if restart else 1) + 120
        for i, port in enumerate(ports):
            procs.append(start(folder, patch, f"f{i}", ["--sync", "follower", "--sync-listen", f"127.0.0.1:{port}"],
                               total))
        for i in range(followers):
            if not wait_for_line(folder / f"f{i}.out", "waiting for the leader", 120):
                raise RuntimeError(f"follower {i} did not start: {(folder / f'f{i}.out').read_text()[-2000:]}")
        to = [a for p in ports for a in ("--sync-to", f"127.0.0.1:{p}")]
        leader = start(folder, patch, "l1", ["--sync", "leader", *to], seconds + 60, osc_port=osc)
        procs.append(leader)
        end = time.time() + 120
        sent = 0
        while time.time() < end:
            n = len(next(iter(read_log(folder / "l1.csv").values()), {}))
            if n >= seconds * fps:
                break
            if sent < 3 and n >= (sent + 1) * seconds * fps / 4:  # a performer's moves, over OSC
                send_osc(osc, [("/lp/chroma", 0.9), ("/lp/blackout", 0.6), ("/lp/blackout", 0.0)][sent])
                sent += 1
            time.sleep(0.1)
        result_sent = sent
        killed_at = None
        if restart:
            leader.send_signal(signal.SIGKILL)   # a crash, not a clean end
            leader.wait()
            killed_at = time.time()
            time.sleep(2.0)                      # the followers hold
            procs.append(start(folder, patch, "l2", ["--sync", "leader", *to], seconds + 60, osc_port=osc))
            end = time.time() + 120 + seconds
            while time.time() < end and len(next(iter(read_log(folder / "l2.csv").values()), {})) < seconds * fps:
                time.sleep(0.2)
        time.sleep(1.0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    result = {"followers": [], "osc_sent": result_sent}
    leaders = {}
    for name in ("l1", "l2"):
        for session, frames in read_log(folder / f"{name}.csv").items():
            leaders[session] = (name, frames)
    for i in range(followers):
        logs = read_log(folder / f"f{i}.csv")
        per = {}
        for session, (name, frames) in leaders.items():
            per[name] = compare(frames, logs.get(session, {}), fps)
        held = None
        if killed_at is not None and "l2" in [n for n, _ in leaders.values()]:
            l2_session = next(s for s, (n, _) in leaders.items() if n == "l2")
            first = min((t for t, _ in logs.get(l2_session, {}).values()), default=None)
            held = first - killed_at if first is not None else None
        result["followers"].append({"sessions": per, "held_s": held})
    result["leaders"] = {n: len(f) for n, f in leaders.values()}
    return result


def frames_of(path: Path) -> dict[int, tuple[float, int]]:
    """The frames of the (one) session in a present log."""
    return next(iter(read_log(path).values()), {})


def run_late(folder: Path, *, late: float = 3.0, fps: float = 10.0, frames: int = 30,
             restart: bool = True, warmup: float | None = None) -> dict:
    """A leader plays alone; OSC moves it (in its first `late` seconds); then a follower starts
    (and, with `restart`, is killed -9 once in step and started again).  Each follower process
    catches up from the leader's log.  Returns, per follower run: its start time, its first
    presented frame and when, and the comparison with the leader over the frames it presented.
    `warmup`: the restarted follower's `[installation] sync_warmup` (it is further behind: with a
    short warm-up it advances most frames without a picture); the first follower's is the default."""
    patch = folder / "small.toml"
    patch.write_text(SMALL_PATCH.format(fps=fps))
    second = patch
    if warmup is not None:
        second = folder / "small-warmup.toml"
        second.write_text(SMALL_PATCH.format(fps=fps) + f"[installation]\nsync_warmup = {warmup}\n")
    port, osc = free_ports(2)
    procs = []
    runs = []
    sync_follow = ["--sync", "follower", "--sync-listen", f"127.0.0.1:{port}"]
    try:
        leader = start(folder, patch, "l1", ["--sync", "leader", "--sync-to", f"127.0.0.1:{port}"], 600, osc_port=osc)
        procs.append(leader)
        sent = 0
        end = time.time() + 120
        while time.time() < end:      # the leader plays alone; a performer moves it
            n = len(frames_of(folder / "l1.csv"))
            if n >= late * fps:
                break
            if sent < 2 and n >= (sent + 1) * late * fps / 3:
                send_osc(osc, [("/lp/chroma", 0.9), ("/lp/blackout", 0.6)][sent])
                sent += 1
            time.sleep(0.05)
        if leader.poll() is not None:
            raise RuntimeError(f"the leader ended: {(folder / 'l1.out').read_text()[-2000:]}")
        for r in range(2 if restart else 1):
            name = f"late{r}"
            started = time.time()
            follower = start(folder, second if r else patch, name, sync_follow, 600)
            procs.append(follower)
            end = time.time() + 120
            while time.time() < end and len(frames_of(folder / f"{name}.csv")) < frames:
                if follower.poll() is not None:
                    raise RuntimeError(f"the follower ended: {(folder / f'{name}.out').read_text()[-2000:]}")
                time.sleep(0.05)
            if r == 0 and restart:
                follower.send_signal(signal.SIGKILL)   # a follower's crash: it starts again alone
                follower.wait()
            runs.append((name, started))
        time.sleep(0.5)
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
    lead = frames_of(folder / "l1.csv")
    out = {"osc_sent": sent, "leader_frames": len(lead), "followers": []}
    for name, started in runs:
        fr = frames_of(folder / f"{name}.csv")
        first = min(fr, default=None)
        text = (folder / f"{name}.out").read_text()
        m = re.search(r"catching up: (\d+) advanced without a picture, (\d+) rendered without presenting", text)
        own = re.search(r"pictures identical to the leader's: (\d+) of (\d+) compared", text)
        took = re.search(r"caught up with the leader at frame \d+ .*; ([\d.]+) s\)", text)
        out["followers"].append({
            "name": name, "first_frame": first,
            "advanced": int(m.group(1)) if m else None, "rendered_unshown": int(m.group(2)) if m else None,
            "own_check": (int(own.group(1)), int(own.group(2))) if own else None,
            "catch_up_s": float(took.group(1)) if took else None,
            "first_at_s": fr[first][0] - started if first is not None else None,
            "leader_first_at": lead[min(lead)][0] - started if lead else None,
            "caught_up": "caught up with the leader" in text,
            "compare": compare(lead, fr, fps)})
    return out


LINK_PATCH_CLOCK = """[clock]
source = "link"
bpm = 120
beats_per_bar = 4
"""


def wrap(x: float, modulo: float = 4.0) -> float:
    return (x + modulo / 2) % modulo - modulo / 2


def run_link(folder: Path, *, fps: float = 10.0, tempos=((1.0, 100.0), (4.0, 140.0)), seconds: float = 7.0,
             osc_tempo: tuple[float, float] | None = None) -> dict:
    """A leader with `[clock] source = "link"` and a follower; this process is another Link peer
    (other music software) that sets the tempo at the leader's times given (seconds of its
    show); `osc_tempo` (time, bpm): an /lp/tempo to the leader then (its performer), which the
    session should take.  Returns per leader frame: presented time, beat (leader, follower),
    and the peer's beat and tempo at that moment."""
    import threading
    from latentperform.inputs.link import open_link

    patch = folder / "link.toml"
    patch.write_text(SMALL_PATCH.format(fps=fps) + LINK_PATCH_CLOCK)
    port, osc = free_ports(2)
    peer = open_link(tempos[0][1], quantum=4.0)
    samples: list[tuple[float, float, float]] = []   # (wall time, bpm, beat) of the peer
    done = threading.Event()

    def sample():
        while not done.is_set():
            bpm, beat = peer.state()
            samples.append((time.time(), bpm, beat))
            time.sleep(0.005)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    procs = []
    peers_seen = 0
    try:
        f = start(folder, patch, "f0", ["--sync", "follower", "--sync-listen", f"127.0.0.1:{port}"], 600)
        procs.append(f)
        if not wait_for_line(folder / "f0.out", "waiting for the leader", 120):
            raise RuntimeError(f"the follower did not start: {(folder / 'f0.out').read_text()[-2000:]}")
        leader = start(folder, patch, "l1", ["--sync", "leader", "--sync-to", f"127.0.0.1:{port}"], 600,
                       osc_port=osc)
        procs.append(leader)
        pending = list(tempos)
        pending_osc = osc_tempo
        end = time.time() + 120
        while time.time() < end:
            n = len(frames_of(folder / "l1.csv"))
            peers_seen = max(peers_seen, peer.peers)
            if pending and n >= pending[0][0] * fps:
                peer.set_tempo(pending.pop(0)[1])
            if pending_osc is not None and n >= pending_osc[0] * fps:
                send_osc(osc, ("/lp/tempo", pending_osc[1]))
                pending_osc = None
            if n >= seconds * fps or leader.poll() is not None:
                break
            time.sleep(0.02)
        time.sleep(0.5)
    finally:
        done.set()
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(20)
            except subprocess.TimeoutExpired:
                p.kill()
        sampler.join(1)
        peer.close()

    def beats(path):
        out = {}
        if path.exists():
            for row in csv.reader(path.open()):
                if len(row) >= 5:
                    out[int(row[0])] = (float(row[1]), int(row[2]), float(row[4]))
        return out

    lead, fol = beats(folder / "l1.csv"), beats(folder / "f0.csv")
    times = [t for t, _, _ in samples]

    def peer_at(t):
        i = bisect.bisect_right(times, t) - 1
        if i < 0:
            return None
        st, bpm, pb = samples[i]
        return pb + (t - st) * bpm / 60.0, bpm

    # the leader's schedule (frame k at t0 + k / fps): from its presents, the median offset (a
    # present a few ms late under load does not move it).  The beat a frame carries is meant for
    # that moment; how late the presents are is the other tests' measure
    offsets = sorted(t - k / fps for k, (t, _, _) in lead.items())
    t0 = offsets[len(offsets) // 2] if offsets else 0.0
    rows = []
    for k in sorted(lead):
        t, h, b = lead[k]
        at, shown = peer_at(t0 + k / fps), peer_at(t)
        if at is None or shown is None:
            continue
        rows.append({"frame": k, "t": t, "beat": b, "peer_beat": at[0], "peer_bpm": at[1],
                     "peer_beat_presented": shown[0], "follower": fol.get(k), "hash": h})
    return {"rows": rows, "peers_seen": peers_seen, "fps": fps,
            "leader_text": (folder / "l1.out").read_text()}


def link_summary(r: dict, window: tuple[float, float], fps: float) -> dict:
    """Over the leader's frames `window` (seconds of its show): the beat error to the peer
    (wrapped to the bar), and the beat rate (beats a second) against the peer's tempo."""
    rows = [x for x in r["rows"] if window[0] * fps <= x["frame"] < window[1] * fps]
    errs = sorted(abs(wrap(x["beat"] - x["peer_beat"])) for x in rows)
    shown = sorted(abs(wrap(x["beat"] - x["peer_beat_presented"])) for x in rows)
    # beats a second of the show's clock (frame k at k / fps: what the beat follows, present jitter aside)
    rate = ((rows[-1]["beat"] - rows[0]["beat"]) * fps / (rows[-1]["frame"] - rows[0]["frame"])
            if len(rows) > 1 else None)
    return {"frames": len(rows), "err_max": errs[-1] if errs else None,
            "err_median": errs[len(errs) // 2] if errs else None,
            "err_presented_max": shown[-1] if shown else None,
            "rate_bpm": rate * 60 if rate is not None else None,
            "peer_bpm": rows[-1]["peer_bpm"] if rows else None}


def catch_up_rates(patch_path: str, frames: int = 150) -> dict:
    """How fast a follower catches up with this patch, in this process: frames a second rendered
    (unshown: the frames within the warm-up) and advanced without a picture (the older ones)."""
    from dataclasses import replace as _replace

    from latentperform.clock import FixedStepClock
    from latentperform.engine import open_show
    from latentperform.patch import load_patch
    from latentperform.render import HeadlessSurface

    patch = load_patch(patch_path)
    patch = _replace(patch, inputs=_replace(patch.inputs, audio=_replace(patch.inputs.audio, enabled=False)))
    fps = float(patch.output.fps)
    eng = open_show(patch, surface=HeadlessSurface(tuple(patch.output.size)), clock=FixedStepClock(fps), fps=fps,
                    offline=True, stage=False)
    try:
        for _ in range(10):
            eng.step()        # warm: shaders compiled, the generator's first frames
        t = time.perf_counter()
        for _ in range(frames):
            eng.step()
        rendered = frames / (time.perf_counter() - t)
        t = time.perf_counter()
        for _ in range(frames * 10):
            eng.advance()
        advanced = frames * 10 / (time.perf_counter() - t)
    finally:
        eng.close()
    return {"fps": fps, "size": tuple(patch.output.size), "rendered": rendered, "advanced": advanced}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--followers", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=20.0, help="frames of each leader, in seconds")
    ap.add_argument("--fps", type=float, default=10.0)
    ap.add_argument("--no-restart", action="store_true")
    ap.add_argument("--late", type=float, default=None, metavar="SECONDS",
                    help="instead: a follower joins after the leader played this long, then restarts")
    ap.add_argument("--warmup", type=float, default=None, metavar="SECONDS",
                    help="with --late: the restarted follower's [installation] sync_warmup")
    ap.add_argument("--link", action="store_true",
                    help="instead: a leader following an Ableton Link peer (this process) and a follower")
    ap.add_argument("--rates", default=None, metavar="PATCH",
                    help="instead: how fast a follower catches up with PATCH (rendered and advanced frames a second)")
    args = ap.parse_args()
    if args.rates:
        r = catch_up_rates(args.rates)
        w, h = r["size"]
        print(f"{args.rates} ({w}x{h} at {r['fps']:g} fps), in one process on this machine (shared with other "
              f"work): {r['rendered']:.0f} frames/s rendered unshown, {r['advanced']:.0f} frames/s advanced "
              f"without a picture; a follower joining a leader that has played T s catches up in about "
              f"T*{r['fps']:g}/{r['advanced']:.0f} + warmup*{r['fps']:g}/({r['rendered']:.0f}-{r['fps']:g}) s "
              + ("(it cannot: rendering is not faster than the show's frame rate here)"
                 if r["rendered"] <= r["fps"] else ""))
        return 0
    folder = Path(tempfile.mkdtemp(prefix="lp-sync-"))
    if args.link:
        r = run_link(folder, fps=args.fps, seconds=10.0, osc_tempo=(7.0, 90.0))
        print(f"a leader with [clock] source = link and a follower, 96x64 built-in at {args.fps:g} fps; this "
              f"process is a Link peer at 100 bpm, then 140 bpm from the leader's 4th second; at its 7th an "
              f"/lp/tempo 90 to the leader "
              f"(machine shared with other work); logs in {folder}; Link peers seen: {r['peers_seen']}")
        same = sum(1 for x in r["rows"] if x["follower"] is not None and x["follower"][1] == x["hash"]
                   and x["follower"][2] == x["beat"])
        both = sum(1 for x in r["rows"] if x["follower"] is not None)
        print(f"follower: {same} of {both} frames in common with the same picture and the same beat")
        for w in ((2.5, 4.0), (5.5, 7.0), (8.0, 9.0), (9.0, 10.0)):
            c = link_summary(r, w, args.fps)
            print(f"leader's seconds {w[0]:g}-{w[1]:g}: beat vs the peer's at the frame's moment, wrapped to "
                  f"the bar: median {c['err_median']:.4f}, max {c['err_max']:.4f} beats (at the actual present: "
                  f"max {c['err_presented_max']:.4f}); beat rate {c['rate_bpm']:.2f} bpm (peer {c['peer_bpm']:.2f})")
        return 0
    if args.late is not None:
        r = run_late(folder, late=args.late, fps=args.fps, frames=int(args.seconds * args.fps), warmup=args.warmup)
        print(f"a follower joining a leader that played {args.late:g} s alone (OSC moved it), 96x64 built-in "
              f"at {args.fps:g} fps (machine shared with other work); logs in {folder}")
        for f in r["followers"]:
            c = f["compare"]
            print(f"{f['name']}: first presented frame {f['first_frame']}, {f['first_at_s']:.1f} s after its "
                  f"process started; {c['common']} frames presented, {c['identical']} identical to the "
                  f"leader's; presented {c['dt_median_ms']:.1f} ms apart (median), p99 {c['dt_p99_ms']:.1f} ms, "
                  f"max {c['dt_max_ms']:.1f} ms; caught up with {f['advanced']} frames advanced without a "
                  f"picture and {f['rendered_unshown']} rendered unshown (from its summary; none after a kill -9)"
                  + (f"; its own check: {f['own_check'][0]} of {f['own_check'][1]} identical" if f["own_check"]
                     else ""))
        return 0
    r = run(folder, followers=args.followers, seconds=args.seconds, fps=args.fps, restart=not args.no_restart)
    print(f"{args.followers} followers + a leader on the loopback, 96x64 built-in at {args.fps:g} fps "
          f"(frame {1e3 / args.fps:.0f} ms; machine shared with other work); logs in {folder}")
    for i, f in enumerate(r["followers"]):
        for name, c in f["sessions"].items():
            if not c.get("common"):
                print(f"follower {i}, leader {name}: no frames in common")
                continue
            print(f"follower {i}, leader {name}: {c['common']} frames in common, {c['identical']} identical; "
                  f"presented {c['dt_median_ms']:.1f} ms apart (median), p99 {c['dt_p99_ms']:.1f} ms "
                  f"(after the first second: {c['dt_p99_warm_ms']:.1f} ms), max {c['dt_max_ms']:.1f} ms; "
                  f"frame index difference at the same moments p99 {c['frame_diff_p99']}, the same frame "
                  f"{c['same_frame']:.1%} of the time")
        if f["held_s"] is not None:
            print(f"follower {i}: held {f['held_s']:.1f} s from the kill -9 of the leader to the new leader's "
                  f"first frame (that leader's start included)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
