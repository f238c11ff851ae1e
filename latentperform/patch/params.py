"""The engine's own parameters (blackout, freeze, tempo, tap) and the names a patch may target.

The trajectory (latent/) and the shader chain (render/) declare their own `ParamSpec`s at run
time; `patch` may import neither, so the latent names are listed here for validation and a test
(tests/latent/test_param_names.py) keeps this list equal to `Trajectory.param_specs()`.
"""

from __future__ import annotations

import re

from ..events import ParamSpec
from .reader import suggest

MIN_BPM, MAX_BPM = 20.0, 400.0


ENGINE_SPECS = (
    ParamSpec("engine/blackout", 0.0, 0.0, 1.0, "fade the output to black (1 = black)", osc="/lp/blackout"),
    ParamSpec("engine/freeze", 0.0, 0.0, 1.0, "hold the current picture (1 = frozen)", osc="/lp/freeze"),
)


def clock_param_specs(bpm: float = 120.0) -> list[ParamSpec]:
    """Tempo parameters the mapper itself acts on: pass the patch's [clock] bpm as default."""
    return [
        ParamSpec("clock/bpm", float(bpm), MIN_BPM, MAX_BPM,
                  "tempo in beats per minute; a jump keeps the beat phase continuous", osc="/lp/tempo"),
        ParamSpec("clock/tap", 0.0, 0.0, 1.0,
                  "tap tempo: the last taps (a line fitted through them) set the tempo, rounded to a whole bpm; the tap is the downbeat",
                  kind="trigger", osc="/lp/tap", args=""),
        ParamSpec("clock/resync", 0.0, 0.0, 1.0,
                  "downbeat resync: the beat nearest to now becomes the first of a bar (the tempo is kept)",
                  kind="trigger", osc="/lp/resync", args=""),
    ]


def engine_param_specs(bpm: float = 120.0) -> list[ParamSpec]:
    """The engine's own parameters (blackout, freeze) and the clock's (tempo, tap)."""
    return [*ENGINE_SPECS, *clock_param_specs(bpm)]


# Continuous parameters of the trajectory (see latent/trajectory.py) ...
LATENT_CONTINUOUS = (
    "latent/speed", "latent/walk", "latent/walk/rate", "latent/pulse", "latent/glide",
    "latent/truncation", "latent/xy/x", "latent/xy/y", "latent/xy/amount", "latent/mix/amount",
    "latent/rotate", "latent/translate/x", "latent/translate/y", "latent/chroma",
)
# ... its triggers ...
LATENT_TRIGGERS = ("latent/keyframe", "latent/keyframe/next", "latent/keyframe/prev", "latent/pulse/hit")
# ... and the one two-argument address (/lp/xy x y sets latent/xy/x and latent/xy/y).
LATENT_VECTORS = ("latent/xy",)
# The atlas mode's (latent/modes/atlas.py; "atlas" is its XY pad: /lp/atlas/xy x y).
ATLAS_CONTINUOUS = ("atlas/x", "atlas/y", "atlas/zoom", "atlas/tour")
ATLAS_TRIGGERS = ("atlas/step",)
ATLAS_VECTORS = ("atlas",)
LATENT_DIRECTION = re.compile(r"^latent/direction/(\d+)$")
LATENT_CHROMA = re.compile(r"^latent/chroma/(\d+)$")  # pitch-class weights, 0..11

# derived from the specs above, never listed twice
ENGINE_CONTINUOUS = tuple(s.name for s in engine_param_specs() if s.kind != "trigger")
ENGINE_TRIGGERS = tuple(s.name for s in engine_param_specs() if s.kind == "trigger")

TRIGGER_NAMES = frozenset(LATENT_TRIGGERS + ENGINE_TRIGGERS + ATLAS_TRIGGERS)
KNOWN_NAMES = frozenset(LATENT_CONTINUOUS + LATENT_TRIGGERS + LATENT_VECTORS + ENGINE_CONTINUOUS + ENGINE_TRIGGERS
                        + ATLAS_CONTINUOUS + ATLAS_TRIGGERS + ATLAS_VECTORS)

# -- show commands ---------------------------------------------------------------------------------

QUIT_CONFIRM_S = 2.0   # a second quit (key q, /lp/quit) within this long stops the show


def show_param_specs() -> list[ParamSpec]:
    """Show commands as parameters (StagePart registers them in a live show), so any input
    (OSC, MIDI, the control room, a key) can run the show remotely and a mapping can drive them
    like any other parameter.  Record and overlay are on/off states (a TouchOSC toggle or a MIDI
    pad in mode "toggle" shows them lit); the others fire.  Blackout, freeze, keyframe next/prev,
    tap and the downbeat resync are parameters of every show (engine/blackout, engine/freeze,
    latent/keyframe/next|prev, clock/tap, clock/resync)."""
    return [
        ParamSpec("stage/record", 0.0, 0.0, 1.0,
                  "recording: 1 starts recording the output to a new file in the show's folder, 0 stops it",
                  osc="/lp/record"),
        ParamSpec("stage/overlay", 0.0, 0.0, 1.0, "the overlay (figures, status): 1 shown, 0 hidden",
                  osc="/lp/overlay"),
        ParamSpec("stage/screenshot", 0.0, 0.0, 1.0, "save the next frame as a PNG in the show's folder",
                  kind="trigger", osc="/lp/screenshot", args=""),
        ParamSpec("stage/quit", 0.0, 0.0, 1.0,
                  f"quit the show; guarded: only a second quit within {QUIT_CONFIRM_S:g} s of the first stops it",
                  kind="trigger", osc="/lp/quit", args=""),
    ]


_SHOW_SPECS = show_param_specs()
TRIGGER_NAMES = TRIGGER_NAMES | {s.name for s in _SHOW_SPECS if s.kind == "trigger"}
KNOWN_NAMES = KNOWN_NAMES | {s.name for s in _SHOW_SPECS}

# The control room's own parameter (engine/control_room.py registers it while a room is open):
# a MIDI pad mapped to it recalls the n-th scene of the scenes file.
CONTROL_SPECS = (
    ParamSpec("control/scene/recall", 0.0, 0.0, 999.0,
              'recall the n-th scene of the control room\'s scenes file (from 1), a cut; /lp/scene/recall "name" '
              "[seconds] recalls one by name", kind="trigger", osc="/lp/scene/recall/index", args="i"),
)
TRIGGER_NAMES = TRIGGER_NAMES | {s.name for s in CONTROL_SPECS}
KNOWN_NAMES = KNOWN_NAMES | {s.name for s in CONTROL_SPECS}

_SEGMENT = re.compile(r"^[A-Za-z0-9_.\-]+$")


def target_problem(name: str, shader_passes: tuple[str, ...] | None = None,
                   bends: int | None = None) -> str | None:
    """Why `name` cannot be a mapping target, or None when it can (or may, for shader names,
    whose uniforms only the running shader chain knows, and bend settings, which only the op
    knows).  bends: how many [[bend]] the patch has (None: not known here)."""
    parts = name.split("/")
    if any(not _SEGMENT.match(p) for p in parts):
        return f'expected a parameter name like "latent/speed" or "shader/<pass>/<uniform>", got "{name}"'
    if parts[0] == "bend":
        if len(parts) != 3 or not parts[1].isdigit():
            return f'expected "bend/<i>/<setting>" (i counts the [[bend]] tables from 0), got "{name}"'
        if bends is not None and int(parts[1]) >= bends:
            return f'"{name}": the patch has {bends} [[bend]] table(s) (bend/0 .. bend/{bends - 1})' if bends \
                else f'"{name}": the patch has no [[bend]] tables'
        return None
    if parts[0] == "shader":
        if len(parts) != 3:
            return f'expected "shader/<pass>/<uniform>", got "{name}"'
        if shader_passes is not None and parts[1] not in shader_passes:
            listed = ", ".join(f'"{p}"' for p in shader_passes) or "none"
            return (f'shader pass "{parts[1]}" is not in output.shaders (listed: {listed})'
                    + suggest(parts[1], shader_passes))
        return None
    if name in KNOWN_NAMES or LATENT_DIRECTION.match(name):
        return None
    chroma = LATENT_CHROMA.match(name)
    if chroma:
        return None if int(chroma.group(1)) < 12 else f'expected a pitch class 0..11 in "{name}"'
    return f'unknown parameter "{name}"' + suggest(name, sorted(KNOWN_NAMES))


def is_trigger(name: str) -> bool:
    return name in TRIGGER_NAMES


# -- names learn offers ---------------------------------------------------------------------------------


def learn_parts(name: str, specs) -> tuple[str, ...]:
    """The parameters learning `name` maps: itself, or a two-value parameter's parts
    (latent/xy -> latent/xy/x, latent/xy/y)."""
    spec = specs.get(name)
    if spec is not None and len(spec.args) > 1:
        parts = tuple(f"{name}/{s}" for s in "xyzw"[:len(spec.args)])
        if all(p in specs for p in parts):
            return parts
    return (name,)


def learnable_names(specs, shader_passes) -> list[str]:
    """Parameters a mapping may drive (two-value ones learn as their parts), sorted."""
    return sorted(n for n, s in specs.items()
                  if (len(s.args) <= 1 and target_problem(n, tuple(shader_passes)) is None)
                  or len(learn_parts(n, specs)) > 1)


def resolve_param(text: str, specs) -> str:
    """A parameter name from what a performer typed: its name or its /lp address
    (ValueError with a did-you-mean when neither)."""
    text = text.strip()
    if text.startswith("/"):
        hits = [s for s in specs.values() if s.osc == text]
        one = [s for s in hits if len(s.args) <= 1 or len(learn_parts(s.name, specs)) > 1]
        if one:
            return one[0].name
        addresses = sorted({s.osc for s in specs.values() if s.osc})
        raise ValueError(f"no parameter answers to {text}" + suggest(text, addresses))
    name = text[len("param/"):] if text.startswith("param/") else text
    if name in specs and (len(specs[name].args) <= 1 or len(learn_parts(name, specs)) > 1):
        return name
    raise ValueError(f'unknown parameter "{name}"' + suggest(name, sorted(specs)))
