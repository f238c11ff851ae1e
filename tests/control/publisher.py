"""A small show of our own for the control room's tests: real sockets, no engine.

It does what the engine's control part does, in a few lines: drains one EventQueue (the control
room's pages and a real OSC listener put events on it), applies `param/` and `trigger/` events
to its parameters (clipped to their specs, like the mapper), runs scene recalls through
`ControlSession`, and publishes state and a preview picture whose colour follows one parameter.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from latentperform.clock import WallClock
from latentperform.control import ControlRoom, ControlSession, SceneBook
from latentperform.events import EventQueue, ParamSpec
from latentperform.inputs.osc import OscInput

SPECS = [
    ParamSpec("latent/speed", 0.25, 0.0, 4.0, "how fast the latent point moves", osc="/lp/speed"),
    ParamSpec("latent/truncation", 0.8, 0.0, 1.5, "truncation psi", osc="/lp/truncation"),
    ParamSpec("shader/color/hue", 0.0, 0.0, 1.0, "hue of the preview", osc="/lp/shader/color/hue"),
    ParamSpec("engine/blackout", 0.0, 0.0, 1.0, "fade to black", osc="/lp/blackout"),
    ParamSpec("engine/freeze", 0.0, 0.0, 1.0, "hold the picture", osc="/lp/freeze"),
    ParamSpec("clock/tap", 0.0, 0.0, 1.0, "tap tempo", kind="trigger", osc="/lp/tap", args=""),
    ParamSpec("latent/keyframe", 0.0, 0.0, 2.0, "glide to keyframe i", kind="trigger", osc="/lp/keyframe"),
]


def picture(hue: float, size=(360, 640)) -> np.ndarray:
    """A frame whose colour is the hue (red at 0, green at 1/3, blue at 2/3)."""
    h, w = size
    rgb = np.clip(np.abs(((hue * 6 + np.array([0, 4, 2])) % 6) - 3) - 1, 0, 1)
    img = np.empty((h, w, 3), np.uint8)
    img[:] = (rgb * 255).astype(np.uint8)
    img[h // 3: 2 * h // 3, w // 3: 2 * w // 3] = 255 - img[0, 0]   # a square, so it is not flat
    return img


class Publisher:
    def __init__(self, scenes_path, *, host="127.0.0.1", token=None, fps=30.0, preview_fps=10.0, **room_options):
        self.clock = WallClock()
        self.queue = EventQueue()
        self.specs = {s.name: s for s in SPECS}
        self.values = {s.name: s.default for s in SPECS if s.kind != "trigger"}
        self.fired: list[tuple[str, float]] = []
        self.events = []            # every event applied, in order (the "event log")
        self.room = ControlRoom(self.queue, self.clock, host=host, port=0, token=token,
                                scenes=SceneBook(scenes_path), preview_fps=preview_fps, **room_options)
        self.room.set_specs(SPECS)
        self.osc = OscInput(self.queue, self.clock, port=0, specs=SPECS)
        self.session = ControlSession(self.room)
        self.commands = []          # what the session handed back (learn, keyframe edits ...)
        self.takeover = {}          # what the state says about soft takeover (a test sets it)
        self.period = 1.0 / fps
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-show", daemon=True)

    def start(self) -> "Publisher":
        self.room.start()
        self._thread.start()
        return self

    def _apply(self, e) -> None:
        self.events.append(e)
        if e.address.startswith("param/"):
            name = e.address[6:]
            spec = self.specs.get(name)
            if spec is not None and spec.kind != "trigger":
                self.values[name] = min(max(e.scalar(), spec.min), spec.max)
        elif e.address.startswith("trigger/"):
            self.fired.append((e.address[8:], e.scalar()))

    def _run(self) -> None:
        while not self._stop.is_set():
            now = self.clock.now()
            for e in self.queue.iter_pending():
                self._apply(e)
            events, commands = self.session.tick(now, self.values)
            for e in events:
                self._apply(e)
            self.commands.extend(commands)
            self.session.publish(now, lambda: {
                    "values": dict(self.values),
                    "clock": {"tempo": 120.0, "beat": now * 2.0, "beats_per_bar": 4},
                    "stats": {"fps": 1.0 / self.period, "frame_ms_p99": 34.0, "stutter": 0.01, "gen_ms": 12.0,
                              "latency_ms": 40.0},
                    "audio": {"level": 0.5 + 0.4 * np.sin(now), "bass": 0.7, "onset": 0.0},
                    "mappings": [{"source": "osc/fader/1", "target": "latent/speed", "mode": "value",
                                  "activity": 0.5}],
                    "takeover": dict(self.takeover),
                    "notices": [], "errors": [],
                })
            if self.room.wants_frame(now):
                self.session.offer_frame(now, picture(self.values["shader/color/hue"]))
            self._stop.wait(self.period)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.room.close()
        self.osc.close()
