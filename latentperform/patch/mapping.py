"""Mapping: control events + the previous ParamState -> the next ParamState, once per tick.

A `Mapper` is a function object.  Its output depends only on the mappings, the specs and the
sequence of (events, prev, now, dt) it has been given, so a recorded event stream replays into
the same states.  What it remembers between ticks (one-pole smoothing, envelope levels, soft
takeover, toggle and edge state, triggers waiting for the beat, tap times) is the memory of those
filters, kept in small per-mapping records, never anything read from the outside world.

The path of one event through a value mapping:

    x = event value (element `index` of a tuple)
    t = (x - input[0]) / (input[1] - input[0]), clipped to 0..1      normalise
    t = 1 - t if invert                                               invert
    envelope (attack/release): t follows impulses, falls back to 0     (per tick)
    y = range[0] + curve(t) * (range[1] - range[0])                   curve and range
    takeover: jump / pickup / relative                                 soft takeover
    value += (y - value) * (1 - exp(-dt / smooth))                     smoothing (per tick)

Rules of the road:
- continuous targets: the newest event per mapping wins within a tick; when several mappings
  (or direct `param/<name>` events) drive one target, the one that moved last owns it;
- triggers: every firing kept, in order (ParamState.triggers), with its argument;
- every value that reaches a parameter or a trigger's argument is finite and clipped to its spec
  (NaN is dropped, an infinity goes to the end it points at);
- `param/<name> v` sets a parameter (clipped to its spec), `trigger/<name> [arg]` fires one, unless
  a mapping lists that address as its source (then the mapping handles it, e.g. to quantise it);
- `clock/tempo <bpm>` and `param/clock/bpm` set the tempo; `trigger/clock/tap` taps it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Iterable, Mapping as MappingType, Sequence

from ..clock import TapTempo
from ..events import ControlEvent, ParamSpec, ParamState
from .params import MAX_BPM, MIN_BPM
from .schema import Mapping

EXP_K = 4.0  # steepness of the exp / log curves
_EXP_NORM = math.expm1(EXP_K)
_VECTOR_SUFFIXES = ("x", "y", "z", "w")
_MAX_ADDRESS_CACHE = 4096
_HUGE = 1e300  # inputs are clipped to +-this before arithmetic, so inf - inf never makes NaN


def apply_curve(curve: str, t: float) -> float:
    """A curve on 0..1 -> 0..1 with curve(0) = 0 and curve(1) = 1.

    lin     t
    exp     (e^(4t) - 1) / (e^4 - 1)        slow start, fast end (loudness, speed)
    log     ln(1 + (e^4 - 1) t) / 4         the inverse of exp: fast start
    smooth  3t^2 - 2t^3                     S-curve (smoothstep)
    """
    if curve == "lin":
        return t
    if curve == "exp":
        return math.expm1(EXP_K * t) / _EXP_NORM
    if curve == "log":
        return math.log1p(_EXP_NORM * t) / EXP_K
    if curve == "smooth":
        return t * t * (3.0 - 2.0 * t)
    raise ValueError(f"unknown curve {curve!r}")


def one_pole(dt: float, tau: float) -> float:
    """How far a one-pole filter with time constant tau moves toward its target in dt."""
    if tau <= 0.0:
        return 1.0
    return 1.0 - math.exp(-max(dt, 0.0) / tau)


def match_source(pattern: str, address: str) -> tuple[str, ...] | None:
    """Segments matched by `*` wildcards, or None when the address does not match."""
    if "*" not in pattern:
        return () if pattern == address else None
    p, a = pattern.split("/"), address.split("/")
    if len(p) != len(a):
        return None
    captured = []
    for ps, aseg in zip(p, a):
        if ps == "*":
            captured.append(aseg)
        elif ps != aseg:
            return None
    return tuple(captured)


def decode_relative(raw: int, encoding: str) -> int:
    """A relative (endless encoder) CC value 0..127 -> signed steps.

    twos    1..63 = +1..+63, 127..65 = -1..-63 (two's complement, 7 bits)
    offset  64 = 0, 65.. = +1.., 63.. = -1.. (binary offset)
    """
    raw = int(raw) & 0x7F
    if encoding == "twos":
        return raw - 128 if raw >= 64 else raw
    if encoding == "offset":
        return raw - 64
    raise ValueError(f"unknown encoding {encoding!r}")


@dataclass
class _Rule:
    """One mapping with its resolved range and the memory of its filters."""

    m: Mapping
    index: int
    lo: float
    hi: float
    spec_lo: float
    spec_hi: float
    is_trigger: bool
    # value path
    level: float = 0.0            # normalised input after invert (0..1), held or enveloped
    impulse: float | None = None  # peak normalised input that arrived this tick (envelopes)
    target: float | None = None   # the value the rule asks for (before smoothing)
    output: float | None = None   # the value it last wrote (after smoothing)
    engaged: bool = False         # pickup: has the control caught the parameter?
    last_control: float | None = None  # pickup: previous value the control asked for
    # trigger / toggle path
    high: dict | None = None      # address -> (above threshold?, tick of that event): edges


class Mapper:
    """`Mapper(mappings, specs).apply(events, prev, now, dt) -> ParamState`.

    mappings  the patch's Mapping rules (targets missing from `specs` are skipped, listed in
              `skipped`: the engine reports them)
    specs     every parameter of this show by name: trajectory, shader chain, engine, clock
    tempo_sources  addresses whose value is a tempo in bpm (add "clock/midi/bpm" to follow a
              MIDI clock, "clock/audio/bpm" for a beat tracker)
    """

    def __init__(self, mappings: Sequence[Mapping], specs: MappingType[str, ParamSpec],
                 tempo_sources: Sequence[str] = ("clock/tempo",)) -> None:
        self.specs = dict(specs)
        self.tempo_sources = frozenset(tempo_sources)
        self.rules: list[_Rule] = []
        self.skipped: list[Mapping] = []
        for i, m in enumerate(mappings):
            spec = self.specs.get(m.target)
            if spec is None:
                self.skipped.append(m)
                continue
            lo, hi = m.range if m.range is not None else (spec.min, spec.max)
            trig = m.effective_mode == "trigger"
            self.rules.append(_Rule(m=m, index=i, lo=float(lo), hi=float(hi), spec_lo=float(spec.min),
                                    spec_hi=float(spec.max), is_trigger=trig, high={}))
        self._exact: dict[str, list[_Rule]] = {}
        self._wild: list[_Rule] = []
        for rule in self.rules:
            if "*" in rule.m.source:
                self._wild.append(rule)
            else:
                self._exact.setdefault(rule.m.source, []).append(rule)
        self._cache: dict[str, list[tuple[_Rule, tuple[str, ...]]]] = {}
        self._owner: dict[str, object] = {}   # target -> the rule (or "direct") that moved it last
        self._pending: list[tuple[float, int, str, float]] = []  # (fire at beat, order, name, arg)
        self._order = 0
        self._bpb = 4
        self._tick = 0
        self.tap = TapTempo()

    # -- public --------------------------------------------------------------------------------

    def apply(self, events: Iterable[ControlEvent], prev: ParamState, now: float, dt: float) -> ParamState:
        self._bpb = max(int(prev.beats_per_bar), 1)
        self._tick += 1
        values = dict(prev.values)
        triggers: list[tuple[str, float]] = []
        newest = prev.newest_input
        bpm_before = values.get("clock/bpm")
        beats_per_sec = prev.tempo / 60.0  # the grid the engine's beat counter ran on

        def beat_at(t: float) -> float:
            return prev.beat + (t - prev.time) * beats_per_sec

        for ev in events:
            try:
                changed = self._event(ev, values, triggers, beat_at)
            except (TypeError, ValueError, OverflowError):  # a value that is not a number: skipped
                continue
            if changed:
                newest = ev.time if newest is None else max(newest, ev.time)

        # envelopes and smoothing run every tick, events or not
        for rule in self.rules:
            if rule.is_trigger:
                continue
            if rule.m.effective_mode == "value" and rule.m.takeover != "relative" and rule.m.envelope:
                self._envelope(rule, dt)
            if rule.target is None or self._owner.get(rule.m.target) is not rule:
                continue
            current = values.get(rule.m.target, rule.target)
            if rule.output is None or abs(current - rule.output) > 1e-9:
                rule.output = current  # someone else moved it: smooth from where it is now
            rule.output += (rule.target - rule.output) * one_pole(dt, rule.m.smooth)
            if abs(rule.output - rule.target) < 1e-9:
                rule.output = rule.target
            values[rule.m.target] = rule.output

        # quantised triggers whose beat has come
        beat_now = beat_at(now)
        if self._pending:
            due = [p for p in self._pending if p[0] <= beat_now + 1e-9]
            if due:
                self._pending = [p for p in self._pending if p[0] > beat_now + 1e-9]
                for _, _, name, arg in sorted(due):
                    triggers.append((name, arg))

        bpm = values.get("clock/bpm")
        tempo = bpm if bpm is not None and bpm != bpm_before else prev.tempo
        return ParamState(values=values, triggers=tuple(triggers), time=now, tempo=tempo,
                          beat=beat_at(now), beats_per_bar=prev.beats_per_bar, newest_input=newest)

    def carry_from(self, old: "Mapper") -> None:
        """Take over the memory of the mapper this one replaces (a hot-reloaded patch), so a
        reload does not reset envelopes, takeover, waiting triggers or the tap tempo.  Rules are
        matched by (source, target); ones that are new start fresh."""
        by_key = {(r.m.source, r.m.target): r for r in old.rules}
        for rule in self.rules:
            prev = by_key.get((rule.m.source, rule.m.target))
            if prev is None:
                continue
            rule.level, rule.target, rule.output = prev.level, prev.target, prev.output
            rule.engaged, rule.last_control = prev.engaged, prev.last_control
            rule.high = dict(prev.high or {})
            if old._owner.get(rule.m.target) is prev:
                self._owner[rule.m.target] = rule
        for name, owner in old._owner.items():
            if owner == "direct" and name not in self._owner:
                self._owner[name] = "direct"
        self._pending = list(old._pending)
        self._order = old._order
        self._tick = old._tick
        self.tap = old.tap

    @property
    def pending(self) -> list[tuple[str, float, float]]:
        """Triggers waiting for their beat: (name, arg, beat)."""
        return [(n, a, b) for b, _, n, a in sorted(self._pending)]

    # -- one event -----------------------------------------------------------------------------

    def _rules_for(self, address: str) -> list[tuple[_Rule, tuple[str, ...]]]:
        hit = self._cache.get(address)
        if hit is None:
            hit = [(r, ()) for r in self._exact.get(address, ())]
            for r in self._wild:
                cap = match_source(r.m.source, address)
                if cap is not None:
                    hit.append((r, cap))
            hit.sort(key=lambda rc: rc[0].index)
            if len(self._cache) >= _MAX_ADDRESS_CACHE:
                self._cache.clear()
            self._cache[address] = hit
        return hit

    def _event(self, ev: ControlEvent, values: dict, triggers: list, beat_at) -> bool:
        rules = self._rules_for(ev.address)
        if rules:
            changed = False
            for rule, captured in rules:
                changed |= self._apply_rule(rule, captured, ev, values, triggers, beat_at)
            return changed
        return self._direct(ev, values, triggers)

    def _direct(self, ev: ControlEvent, values: dict, triggers: list) -> bool:
        addr = ev.address
        if addr in self.tempo_sources:
            return self._set_param("clock/bpm", ev.scalar(), values)
        if addr.startswith("param/"):
            name = addr[6:]
            spec = self.specs.get(name)
            if spec is None:
                return False
            if isinstance(ev.value, tuple) and len(spec.args) > 1:
                changed = False
                for suffix, v in zip(_VECTOR_SUFFIXES, ev.value):
                    changed |= self._set_param(f"{name}/{suffix}", float(v), values)
                return changed
            if spec.kind == "trigger":
                return self._fire(name, ev.scalar(), ev.time, triggers, values)
            return self._set_param(name, ev.scalar(), values)
        if addr.startswith("trigger/"):
            name = addr[8:]
            spec = self.specs.get(name)
            if spec is None:
                return False
            arg = ev.scalar() if not (isinstance(ev.value, tuple) and not ev.value) else 0.0
            return self._fire(name, arg, ev.time, triggers, values)
        return False

    def _set_param(self, name: str, v: float, values: dict) -> bool:
        spec = self.specs.get(name)
        v = float(v)
        if spec is None or spec.kind == "trigger" or v != v:  # NaN never reaches a parameter
            return False
        values[name] = min(max(float(v), spec.min), spec.max)
        self._owner[name] = "direct"
        return True

    def _fire(self, name: str, arg: float, t: float, triggers: list, values: dict) -> bool:
        arg = self._trigger_arg(name, arg)
        if arg is None:
            return False
        triggers.append((name, arg))
        if name == "clock/tap":
            bpm = self.tap.tap(t)
            if bpm is not None:
                values["clock/bpm"] = min(max(bpm, MIN_BPM), MAX_BPM)
                self._owner["clock/bpm"] = "direct"
        return True

    def _trigger_arg(self, name: str, arg: float) -> float | None:
        """A trigger's argument clamped to its spec, as a value is; None for NaN (no firing)."""
        arg = float(arg)
        if arg != arg:
            return None
        spec = self.specs.get(name)
        return min(max(arg, spec.min), spec.max) if spec is not None else arg

    # -- one rule ------------------------------------------------------------------------------

    def _normalise(self, rule: _Rule, ev: ControlEvent) -> float | None:
        if rule.m.bang:
            return 1.0
        v = ev.value
        if isinstance(v, tuple):
            if rule.m.index >= len(v):
                return None
            x = float(v[rule.m.index])
        else:
            x = float(v)
        if x != x:
            return None
        x = min(max(x, -_HUGE), _HUGE)  # infinities normalise to the ends, never to NaN
        a, b = rule.m.input
        t = (x - a) / (b - a)
        return min(max(t, 0.0), 1.0)

    def _shape(self, rule: _Rule, t: float) -> float:
        y = rule.lo + apply_curve(rule.m.curve, t) * (rule.hi - rule.lo)
        lo, hi = (rule.spec_lo, rule.spec_hi)
        return min(max(y, lo), hi)

    def _apply_rule(self, rule: _Rule, captured: tuple[str, ...], ev: ControlEvent, values: dict,
                    triggers: list, beat_at) -> bool:
        m = rule.m
        t = self._normalise(rule, ev)
        if t is None:
            return False
        mode = m.effective_mode
        if mode == "trigger":
            return self._trigger_rule(rule, captured, ev, t, triggers, values, beat_at)
        if mode == "toggle":
            if not self._edge(rule, ev.address, t):
                return False
            current = values.get(m.target, rule.lo)
            mid = 0.5 * (rule.lo + rule.hi)
            on = (current - mid) * (rule.hi - rule.lo) <= 0  # at the low end now: switch to high
            rule.target = self._shape(rule, 1.0 if on else 0.0)
            self._take(rule, values)
            return True
        # value mode
        if m.takeover == "relative":
            a, b = m.input
            raw = round((ev.scalar() - a) / (b - a) * 127.0) if b != a else 0
            steps = decode_relative(raw, m.encoding)
            if steps == 0:
                return False
            if m.invert:
                steps = -steps
            current = values.get(m.target, rule.lo)
            span = rule.hi - rule.lo
            pos = (current - rule.lo) / span if span else 0.0
            pos = min(max(pos + steps * m.step, 0.0), 1.0)
            rule.target = min(max(rule.lo + pos * span, rule.spec_lo), rule.spec_hi)
            self._take(rule, values, reset_output=True)
            return True
        if m.invert:
            t = 1.0 - t
        if m.envelope:
            rule.impulse = t if rule.impulse is None else max(rule.impulse, t)
            self._take(rule, values)
            if rule.target is None:
                rule.target = self._shape(rule, rule.level)
            return True
        wanted = self._shape(rule, t)
        if m.takeover == "pickup" and not self._picked_up(rule, wanted, values):
            return False
        rule.target = wanted
        self._take(rule, values)
        return True

    def _picked_up(self, rule: _Rule, wanted: float, values: dict) -> bool:
        """Pickup takeover: ignore the control until it reaches (or crosses) the parameter."""
        current = values.get(rule.m.target)
        previous, rule.last_control = rule.last_control, wanted
        if current is None:
            rule.engaged = True
            return True
        if rule.engaged and self._owner.get(rule.m.target) is rule and rule.output is not None \
                and abs(current - rule.output) < 1e-6:
            return True
        rule.engaged = False
        tolerance = 0.02 * abs(rule.hi - rule.lo)
        if abs(wanted - current) <= tolerance or (
                previous is not None and (previous - current) * (wanted - current) <= 0):
            rule.engaged = True
            rule.output = current
            return True
        return False

    def _take(self, rule: _Rule, values: dict, reset_output: bool = False) -> None:
        if self._owner.get(rule.m.target) is not rule or reset_output:
            rule.output = values.get(rule.m.target, rule.target)
        self._owner[rule.m.target] = rule

    def _envelope(self, rule: _Rule, dt: float) -> None:
        """Attack/release follower on impulses: events push the level up, silence lets it fall."""
        x = rule.impulse if rule.impulse is not None else 0.0
        rule.impulse = None
        if x > rule.level:
            rule.level += (x - rule.level) * one_pole(dt, rule.m.attack or 0.0)
        else:
            rule.level += (x - rule.level) * one_pole(dt, rule.m.release or 0.0)
        if rule.level < 1e-6:
            rule.level = 0.0
        if self._owner.get(rule.m.target) is rule:
            rule.target = self._shape(rule, rule.level)

    def _edge(self, rule: _Rule, address: str, t: float) -> bool:
        """Whether this event fires: every event at or above threshold (edge = "every", or any
        `bang` mapping), or only those that rise through it (edge = "rise", the default: a held
        note fires once, a fader pushed past the threshold fires once).  A source that sends
        nothing for a whole tick re-arms, so impulse sources (onset events, OSC bangs, beats,
        which never send the low value) fire on every impulse."""
        above = t >= rule.m.threshold
        was, seen = rule.high.get(address, (False, -2))
        rule.high[address] = (above, self._tick)
        if rule.m.edge == "every" or rule.m.bang:
            return above
        return above and not (was and seen >= self._tick - 1)

    def _trigger_rule(self, rule: _Rule, captured: tuple[str, ...], ev: ControlEvent, t: float,
                      triggers: list, values: dict, beat_at) -> bool:
        m = rule.m
        if not self._edge(rule, ev.address, 1.0 - t if m.invert else t):
            return False
        if m.arg == "*":
            try:
                arg = float(captured[0]) + m.arg_offset
            except (IndexError, ValueError):
                return False
        elif m.arg is not None:
            arg = float(m.arg) + m.arg_offset
        elif m.range is not None:
            arg = rule.lo + apply_curve(m.curve, 1.0 - t if m.invert else t) * (rule.hi - rule.lo) + m.arg_offset
        else:
            arg = ev.scalar() + m.arg_offset
        if m.quantize == "none":
            return self._fire(m.target, arg, ev.time, triggers, values)
        arg = self._trigger_arg(m.target, arg)
        if arg is None:
            return False
        grid = 1.0 if m.quantize == "beat" else float(self._bpb)
        b = beat_at(ev.time)
        fire_at = math.ceil(b / grid - 1e-9) * grid
        self._order += 1
        self._pending.append((fire_at, self._order, m.target, arg))
        return True
