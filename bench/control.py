"""What the control room costs the show, and how fast a slider reaches a parameter.

    python bench/control.py [--seconds 8] [--rounds 3] [--size 1280x720] [--fps 30]
                            [--preview-fps 10] [--browser] [--patch FILE]

A headless show of the patch (default: the built-in audio-reactive one, no sound card) runs in
this process, alternately without and with the control room, `--rounds` times each, so a load
that comes and goes on the machine falls on both sides alike.  With the room, a page is open:
another process connects to the WebSocket like the page does, takes every state and preview
picture (`--preview-fps`, JPEG) as they come, and moves a slider (`latent/truncation`) 20 times
a second.  Without the room, the same moves arrive on an input queue from a thread, so the show
does the same work.  `--browser` also opens the page in a headless Chromium on this machine
(its own rendering then competes with the show for the same cores, as it would not on a tablet).

Printed:
- frame time median and p99 and stutter (p99 / median) of each side, pooled over the rounds,
  and the ratio with / without; and CPU time per frame, of the tick thread and of the whole
  process (generator, GL driver threads, the room's threads): on a loaded machine the frame
  times swing with the neighbours' load, the CPU a frame costs much less;
- preview pictures a second the page received, and the room's dropped count;
- slider-to-parameter latency, median and p99: from the page process sending a value to the
  end of the first tick whose parameter state holds it (both sides read CLOCK_MONOTONIC).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import sys
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from latentperform.clock import WallClock  # noqa: E402
from latentperform.config import DEFAULT_PATCH, parse_size  # noqa: E402
from latentperform.events import ControlEvent  # noqa: E402

PARAM = "latent/truncation"
MOVES_PER_S = 20.0


def _value(k: int) -> float:
    """Distinct slider values (each one identifies its send), 0.5..1.0."""
    return round(0.5 + (k % 500) / 1000.0, 4)


def page_process(url: str, seconds: float, out: str, ready) -> None:
    """A page: reads everything the room sends, moves the slider; writes what it sent and got."""
    import aiohttp

    async def main():
        sent, frames, states = [], 0, 0
        ws_url = url.replace("http://", "ws://").split("?")[0] + "ws"
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(ws_url) as ws:
                ready.set()

                async def reader():
                    nonlocal frames, states
                    async for m in ws:
                        if m.type == aiohttp.WSMsgType.BINARY:
                            frames += 1
                        elif m.type == aiohttp.WSMsgType.TEXT and m.data.startswith('{"t":"state"'):
                            states += 1
                task = asyncio.ensure_future(reader())
                t0 = time.perf_counter()
                k = 0
                while time.perf_counter() - t0 < seconds:
                    v = _value(k)
                    sent.append((v, time.perf_counter()))
                    await ws.send_str(json.dumps({"t": "set", "name": PARAM, "value": v}))
                    k += 1
                    await asyncio.sleep(max(0.0, t0 + k / MOVES_PER_S - time.perf_counter()))
                task.cancel()
        Path(out).write_text(json.dumps({"sent": sent, "frames": frames, "states": states,
                                         "seconds": seconds}))
    asyncio.run(main())


class Recorder:
    """A part that notes when each frame ends and when the slider's value first holds."""

    wants_pixels = False
    wants_texture = False

    def shape_request(self, engine, request, params):
        return request

    def __init__(self) -> None:
        self.ends: list[float] = []
        self.tick_cpu: list[float] = []     # the tick thread's CPU seconds at each frame's end
        self.proc_cpu: list[float] = []     # the whole process's (every thread: generator, GL, room)
        self.applied: dict[float, float] = {}
        self._last = None

    def param_specs(self):
        return ()

    def poll(self, engine, t):
        return []

    def on_key(self, engine, key):
        return False

    def status_lines(self, engine):
        return []

    def after_frame(self, engine, params, t) -> None:
        now = time.perf_counter()
        self.ends.append(now)
        self.tick_cpu.append(time.thread_time())
        self.proc_cpu.append(time.process_time())
        v = round(params.get(PARAM), 4)
        if v != self._last:
            self._last = v
            self.applied.setdefault(v, now)

    def close(self) -> None:
        pass


def run_show(args, with_room: bool, tmp: Path) -> dict:
    from latentperform.engine.show import open_show
    from latentperform.patch import load_patch
    from latentperform.render import HeadlessSurface

    patch = load_patch(args.patch)
    surface = HeadlessSurface(args.size)
    clock = WallClock()
    engine = open_show(patch, surface=surface, clock=clock, fps=args.fps)
    rec = Recorder()
    engine.add_part(rec)
    result: dict = {}
    proc = driver = None
    stop = threading.Event()
    try:
        # warm up: the generator's first frames and the GL programs
        for _ in range(int(args.fps)):
            engine.step()
        if with_room:
            from latentperform.control import ControlRoom, SceneBook
            from latentperform.engine.control_room import ControlRoomPart
            room = ControlRoom(engine.add_queue(), clock, port=0, scenes=SceneBook(None),
                               preview_fps=args.preview_fps).start()
            part = engine.add_part(ControlRoomPart(room, None))
            if args.browser:
                driver = _browser(room.url)
            out = tmp / "page.json"
            ready = mp.Event()
            proc = mp.Process(target=page_process, args=(room.url, args.seconds, str(out), ready))
            proc.start()
            ready.wait(20)
        else:
            queue = engine.add_queue()

            def mover():
                t0, k = time.perf_counter(), 0
                while not stop.is_set() and time.perf_counter() - t0 < args.seconds:
                    queue.put(ControlEvent("osc", f"param/{PARAM}", _value(k), clock.now()))
                    k += 1
                    stop.wait(max(0.0, t0 + k / MOVES_PER_S - time.perf_counter()))
            threading.Thread(target=mover, daemon=True).start()
        start = len(rec.ends)
        engine.run(seconds=args.seconds)
        ends = np.asarray(rec.ends[start:])
        result["frame_times"] = np.diff(ends).tolist()
        n = len(ends) - 1
        result["tick_cpu"] = (rec.tick_cpu[-1] - rec.tick_cpu[start]) / max(n, 1)
        result["proc_cpu"] = (rec.proc_cpu[-1] - rec.proc_cpu[start]) / max(n, 1)
        if with_room:
            proc.join(30)
            page = json.loads(out.read_text())
            lat = [rec.applied[v] - t for v, t in page["sent"] if v in rec.applied and rec.applied[v] >= t]
            result.update(latency=lat, frames=page["frames"], states=page["states"], sent=len(page["sent"]),
                          dropped=room.stats["frames_dropped"], preview_seconds=page["seconds"])
            engine.parts.remove(part)
            part.close()
    finally:
        stop.set()
        if driver is not None:
            driver.quit()
        if proc is not None and proc.is_alive():
            proc.terminate()
        engine.close()
        surface.close()
    return result


def _browser(url: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,1000"):
        o.add_argument(a)
    d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=o)
    d.get(url)
    return d


def _ms(values, q) -> float:
    return float(np.percentile(values, q) * 1e3) if len(values) else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=8.0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=parse_size, default=(1280, 720))
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--preview-fps", type=float, default=10.0)
    ap.add_argument("--browser", action="store_true", help="also open the page in a headless Chromium here")
    ap.add_argument("--patch", default=str(DEFAULT_PATCH))
    args = ap.parse_args()
    import tempfile
    tmp = Path(tempfile.mkdtemp(prefix="lp-bench-control-"))
    sides = {False: [], True: []}
    for r in range(args.rounds):
        for with_room in (False, True):
            sides[with_room].append(run_show(args, with_room, tmp))
            print(f"round {r + 1}/{args.rounds} {'with' if with_room else 'without'} the page done", file=sys.stderr)
    w, h = args.size
    print(f"show: {Path(args.patch).name} headless {w}x{h} at {args.fps:g} fps, {args.rounds} x {args.seconds:g} s "
          f"per side, interleaved; page {'in headless Chromium + ' if args.browser else ''}a WebSocket client "
          f"process, preview {args.preview_fps:g} fps")
    figs = {}
    for with_room, runs in sides.items():
        ft = [x for r in runs for x in r["frame_times"]]
        med, p99 = _ms(ft, 50), _ms(ft, 99)
        figs[with_room] = (med, p99, p99 / med)
        tick = np.mean([r["tick_cpu"] for r in runs]) * 1e3
        proc = np.mean([r["proc_cpu"] for r in runs]) * 1e3
        print(f"  {'with the page   ' if with_room else 'without the page'}: frame time median {med:.1f} ms, "
              f"p99 {p99:.1f} ms, stutter {p99 / med:.2f} ({len(ft)} frames); CPU per frame: tick thread "
              f"{tick:.1f} ms, whole process {proc:.1f} ms")
    (m0, p0, s0), (m1, p1, s1) = figs[False], figs[True]
    print(f"  with / without: frame p99 {p1 / p0:.3f}, stutter {s1 / s0:.3f}, median {m1 / m0:.3f}")
    runs = sides[True]
    frames = sum(r["frames"] for r in runs)
    secs = sum(r["preview_seconds"] for r in runs)
    print(f"  preview: {frames / secs:.1f} pictures/s received, {sum(r['dropped'] for r in runs)} dropped by the room")
    lat = [x for r in runs for x in r["latency"]]
    sent = sum(r["sent"] for r in runs)
    print(f"  slider -> parameter: median {_ms(lat, 50):.1f} ms, p99 {_ms(lat, 99):.1f} ms "
          f"({len(lat)} of {sent} moves seen; the rest were overtaken within one tick)")


if __name__ == "__main__":
    mp.set_start_method("spawn")
    main()
