"""The mapping run backwards: the value a control should show for the show's state now.

A MIDI fader's LED ring or motor, a TouchOSC fader or toggle: each shows its parameter through
the inverse of the mapping that drives it, so moving the control from where it shows lands on
the value it showed (no jump).  The forward path is in mapping.py:

    t = normalise(x, input), invert, y = range[0] + curve(t) * (range[1] - range[0])

so the inverse is

    t = curve^-1((y - range[0]) / (range[1] - range[0])), invert, x = input[0] + t * (input[1] - input[0])

Pure: the MIDI LED feedback and the OSC feedback (engine/) both call it.
"""

from __future__ import annotations

import math

from ..events import ParamSpec, ParamState
from .mapping import EXP_K
from .schema import Mapping

_EXP_NORM = math.expm1(EXP_K)


def inverse_curve(curve: str, y: float) -> float:
    """t with apply_curve(curve, t) == y, for y in 0..1."""
    if curve == "exp":
        return math.log1p(_EXP_NORM * y) / EXP_K
    if curve == "log":
        return math.expm1(EXP_K * y) / _EXP_NORM
    if curve == "smooth":
        # smoothstep 3t^2 - 2t^3 = y solved on 0..1 (the middle root of the cubic)
        return 0.5 - math.sin(math.asin(min(max(1.0 - 2.0 * y, -1.0), 1.0)) / 3.0)
    if curve == "lin":
        return y
    raise ValueError(f"unknown curve {curve!r}")


def _unit(x: float) -> float:
    return min(max(float(x), 0.0), 1.0)


def feedback_kind(mapping: Mapping) -> str | None:
    """How a mapping's control shows its parameter: "value" (fader position, LED ring),
    "toggle" (lit at the high end), "keyframe" (lit while that keyframe is current), "beat"
    (tap button: lit for the first half of each beat), or None (nothing to show)."""
    if mapping.bang or "*" in mapping.source:
        return None
    mode = mapping.effective_mode
    if mode == "value":
        # relative: a press is a step, not a position (a << button would stay lit forever)
        return None if mapping.takeover == "relative" else "value"
    if mode == "toggle":
        return None if mapping.range is not None and mapping.range[0] == mapping.range[1] else "toggle"
    if mapping.target == "latent/keyframe" and isinstance(mapping.arg, float):
        return "keyframe"
    if mapping.target == "clock/tap":
        return "beat"
    return None


def control_position(mapping: Mapping, spec: ParamSpec, params: ParamState,
                     keyframe: int | None = None) -> float | None:
    """Where the control sits for the show's state now, 0..1 along its input range (0 at
    input[0], 1 at input[1]), or None when it has nothing to show (see `feedback_kind`)."""
    kind = feedback_kind(mapping)
    if kind is None:
        return None
    if kind == "keyframe":
        if keyframe is None:
            return None
        return 1.0 if int(keyframe) == int(round(mapping.arg + mapping.arg_offset)) else 0.0
    if kind == "beat":
        return 1.0 if params.beat_phase < 0.5 else 0.0
    value = params.values.get(mapping.target)
    if value is None:
        return None
    lo, hi = mapping.range if mapping.range is not None else (spec.min, spec.max)
    if kind == "toggle":
        # a toggle's edge fires at or above the threshold: show "on" as the input's high end
        return 1.0 if abs(value - hi) < abs(value - lo) else 0.0
    if hi == lo:
        return None
    t = inverse_curve(mapping.curve, _unit((value - lo) / (hi - lo)))
    return 1.0 - t if mapping.invert else t


def control_value(mapping: Mapping, spec: ParamSpec, params: ParamState,
                  keyframe: int | None = None) -> float | None:
    """The value to send to `mapping`'s control, in the control's own units (the mapping's
    `input` range: 0..1 for MIDI, whatever a host sends over OSC), or None."""
    t = control_position(mapping, spec, params, keyframe)
    if t is None:
        return None
    a, b = mapping.input
    return a + t * (b - a)


def feedback_value(mapping: Mapping, spec: ParamSpec, params: ParamState,
                   keyframe: int | None = None) -> float | None:
    """`control_value` clipped to 0..1: what a MIDI control (normalised 0..1) is sent."""
    v = control_value(mapping, spec, params, keyframe)
    return None if v is None else _unit(v)


# -- two-way OSC: every OSC-mapped control gets its parameter back ----------------------------------


def osc_feedback_table(mappings, specs) -> dict[str, list[tuple[int, Mapping, ParamSpec]]]:
    """OSC address ("/touch/fader1") -> [(argument index, mapping, spec)] for every mapping from
    one OSC address (no wildcard) with something to show, the first mapping per (address,
    index) in patch order: an XY pad mapped with index 0 and 1 gets both values back in one
    message."""
    table: dict[str, list[tuple[int, Mapping, ParamSpec]]] = {}
    for m in mappings:
        spec = specs.get(m.target)
        if not m.source.startswith("osc/") or spec is None or feedback_kind(m) is None:
            continue
        address = m.source[len("osc"):]
        entries = table.setdefault(address, [])
        if all(i != m.index for i, _, _ in entries):
            entries.append((int(m.index), m, spec))
    for entries in table.values():
        entries.sort(key=lambda e: e[0])
    return table


def osc_control_values(table, params: ParamState, keyframe: int | None = None) -> dict[str, tuple[float, ...]]:
    """address -> the arguments to send back (argument k at position k), in each control's own
    units.  An address whose arguments are not all known (a pad mapped for x only gets a
    message with one argument only when it has one index) is left out: never half a message."""
    out: dict[str, tuple[float, ...]] = {}
    for address, entries in table.items():
        values = {i: control_value(m, spec, params, keyframe) for i, m, spec in entries}
        n = max(values) + 1
        if len(values) != n or any(v is None for v in values.values()):
            continue
        out[address] = tuple(float(values[i]) for i in range(n))
    return out
