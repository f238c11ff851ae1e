"""Value types that cross thread boundaries: ControlEvent, EventQueue, ParamState.

Input threads only ever create `ControlEvent`s and put them on an `EventQueue`.  The engine
drains every queue once per tick with `iter_pending()`, which never blocks.  Everything here
is immutable or thread-safe and imports nothing else from the project.
"""

from __future__ import annotations

import collections
import threading
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Callable, Iterable, Iterator, Mapping

# A value is a float for continuous controls (normalised or not: the source decides and the
# patch maps it), or a tuple of floats for multi-argument messages (OSC `/lp/xy 0.2 0.7`).
Value = float | tuple[float, ...]


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """One thing that happened on an input.

    source   "midi", "osc", "audio", "clock", "key", "replay" ...
    address  slash path in one namespace: "midi/cc/0/7", "midi/note/0/36", "osc/lp/truncation",
             "audio/bass", "audio/onset", "clock/beat"
    value    float, or tuple of floats
    time     seconds on the engine clock's time base (monotonic) when the event arrived
    """

    source: str
    address: str
    value: Value
    time: float

    def scalar(self) -> float:
        """The first (or only) number of the value."""
        v = self.value
        if isinstance(v, tuple):
            return float(v[0]) if v else 0.0
        return float(v)


class EventQueue:
    """Many producers, one consumer; `put` never blocks and `iter_pending` never waits.

    A bounded deque: if the engine stalls, the oldest events are dropped (and counted) rather
    than memory growing without end.
    """

    def __init__(self, maxlen: int = 65536) -> None:
        self._items: collections.deque[ControlEvent] = collections.deque()
        self._lock = threading.Lock()
        self._maxlen = maxlen
        self.dropped = 0

    def put(self, event: ControlEvent) -> None:
        with self._lock:
            if len(self._items) >= self._maxlen:
                self._items.popleft()
                self.dropped += 1
            self._items.append(event)

    def iter_pending(self) -> Iterator[ControlEvent]:
        """Everything that arrived since the last call, oldest first."""
        with self._lock:
            items, self._items = self._items, collections.deque()
        return iter(items)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True)
class ParamState:
    """A frozen snapshot of every engine parameter, plus musical time.

    values      parameter name -> float ("latent/truncation", "latent/direction/0",
                "shader/feedback/amount", ...)
    triggers    names of trigger parameters that fired during this tick, in order
                ("latent/keyframe/next", "latent/pulse" ...), each with its argument
    time        engine clock time of this tick, seconds
    tempo       beats per minute
    beat        beats elapsed since the clock's origin (float); beat phase is beat % 1
    newest_input  engine time of the newest control event that shaped this state, or None
    """

    values: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    triggers: tuple[tuple[str, float], ...] = ()
    time: float = 0.0
    tempo: float = 120.0
    beat: float = 0.0
    beats_per_bar: int = 4
    newest_input: float | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.values, MappingProxyType):
            object.__setattr__(self, "values", MappingProxyType(dict(self.values)))

    def get(self, name: str, default: float = 0.0) -> float:
        return self.values.get(name, default)

    def __getitem__(self, name: str) -> float:
        return self.values[name]

    @property
    def beat_phase(self) -> float:
        return self.beat % 1.0

    @property
    def bar_phase(self) -> float:
        return (self.beat / self.beats_per_bar) % 1.0

    def fired(self, name: str) -> list[float]:
        """Arguments of every firing of trigger `name` in this tick."""
        return [arg for trig, arg in self.triggers if trig == name]

    def evolve(self, **changes) -> "ParamState":
        """A copy with fields replaced; `values` may be a plain dict."""
        return replace(self, **changes)


@dataclass(frozen=True)
class ParamSpec:
    """What a parameter is: the single source for defaults, ranges, OSC addresses and docs.

    kind        "continuous" (latest value wins, smoothed by mappings) or "trigger" (every firing
                kept, in order; the value is the trigger's argument)
    osc         the stable OSC address it answers to, e.g. "/lp/truncation"; generated docs list it
    """

    name: str
    default: float = 0.0
    min: float = 0.0
    max: float = 1.0
    doc: str = ""
    kind: str = "continuous"
    osc: str | None = None
    args: str = "f"  # OSC argument types, e.g. "f", "ff", "i", "" (no argument)


@dataclass(frozen=True)
class LatentRequest:
    """What the trajectory asks the generator to draw; numpy only, so it crosses threads freely.

    z          (z_dim,) float32, the point in the input latent space
    ws         (num_ws, w_dim) float32 or None: a point given directly in W (saved w latents);
               when set it replaces mapping(z)
    w_offset   (w_dim,) float32 or None: added to every layer of ws after truncation
               (semantic directions, pulses)
    psi, cutoff        truncation: ws = w_avg + psi * (ws - w_avg) for layers < cutoff
    mix_z      (z_dim,) or None: a second latent whose ws replace layers mix_layers[0]:mix_layers[1]
    mix_amount 0..1 blend of those layers toward mix_z's
    transform  (3, 3) float32 or None: the user's rotate/translate of the picture (StyleGAN3)
    c          (c_dim,) or None: class label for conditional networks
    bends      None, or one ((setting, value), ...) per [[bend]] of the patch: applied by the
               worker's bender (models.bend) to this request's picture
    time       engine time of the tick that made it; stamp: newest input that shaped it
    """

    z: "object"
    seq: int = 0
    time: float = 0.0
    stamp: float | None = None
    ws: "object | None" = None
    w_offset: "object | None" = None
    psi: float = 1.0
    cutoff: int | None = None
    mix_z: "object | None" = None
    mix_layers: tuple[int, int] = (0, 0)
    mix_amount: float = 0.0
    transform: "object | None" = None
    c: "object | None" = None
    noise_mode: str = "const"
    bends: "tuple | None" = None  # per [[bend]], its settings as ((name, value), ...); see models.bend


# -- coalescing: latest wins per continuous address, within one tick --------------------------------

_ALWAYS_CONTINUOUS = ("param/", "midi/pitchbend/", "midi/aftertouch/", "midi/polytouch/")


def is_continuous_address(address: str) -> bool:
    """Addresses whose events are absolute levels, so only the latest in a tick matters.

    `param/` (continuous parameters set over OSC), pitch bend and aftertouch.  `trigger/`,
    notes, clock events and the generic `midi/cc/...` and `osc/...` are NOT: a button sending
    CC 127 then 0 within one frame, or a relative encoder's deltas, must all reach the mapping.
    The mapping layer, which knows which generic addresses are absolute faders, can pass its
    own predicate to `coalesce`.
    """
    return address.startswith(_ALWAYS_CONTINUOUS)


def coalesce(events: Iterable[ControlEvent],
             continuous: Callable[[str], bool] = is_continuous_address) -> list[ControlEvent]:
    """Latest wins per continuous address; every other event kept; order preserved.

    The surviving event of an address stays at the position of its last occurrence, so a
    trigger that came before the final fader value still comes before it.
    """
    events = list(events)
    last: dict[str, int] = {}
    for i, e in enumerate(events):
        if continuous(e.address):
            last[e.address] = i
    return [e for i, e in enumerate(events) if last.get(e.address, i) == i]
