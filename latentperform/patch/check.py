"""`check_patch`: load a patch (raising PatchError when invalid) and list what looks wrong
although it is allowed: things an artist would want to hear about before the show."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Iterable

from .lines import key_lines, line_of
from .schema import Patch, load_patch


def check_patch(path: str | Path) -> list[str]:
    """Validate the patch at `path` (raises PatchError) and return warnings, one line each."""
    patch = load_patch(path)
    try:
        lines = key_lines(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        lines = {}
    return patch_warnings(patch, str(path), lines)


def patch_problems(patch: Patch, filename: str | None = None) -> list[str]:
    """What the show would silently drop, one line each with file and line: mapping sources no
    input ever sends (with a did-you-mean) and keyframe / directions .npy files that do not
    hold what they must.  `check` fails on these; the show reports them at start and goes on."""
    filename = filename or (str(patch.source_path) if patch.source_path else "<patch>")
    lines: dict = {}
    if patch.source_path is not None:
        try:
            lines = key_lines(Path(patch.source_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):  # changed on disk since it was loaded
            lines = {}
    out: list[str] = []

    def problem(path: tuple, message: str) -> None:
        line = line_of(lines, path)
        out.append(f"{filename}:{line}: {message}" if line else f"{filename}: {message}")

    for i, m in enumerate(patch.mappings):
        why = source_problem(m.source)
        if why:
            problem(("mapping", i, "source"), f"mapping[{i}].source: {why} (the mapping would never move)")
    for i, k in enumerate(patch.keyframes):
        if k.file is not None:
            why = npy_problem(k.file, "keyframe", ndim=(1,))
            if why:
                problem(("keyframes", i, "file"), f"keyframes[{i}].file: {why}")
    directions = patch.trajectory.directions_file
    if directions is not None:
        why = npy_problem(directions, "directions", ndim=(2,))
        if why:
            problem(("trajectory", "directions_file"), f"trajectory.directions_file: {why}")
    return out


# What the inputs send (inputs/midi.py, inputs/osc.py, features/track.py, engine/music.py); a
# test checks this list against the feature extractor's, so the two cannot drift apart.
AUDIO_SOURCES = ("level", "bass", "mid", "high", "onset", "centroid", "percussive", "harmonic",
                 "beat_phase", "tempo", "onset_event", "beat", *(f"chroma/{i}" for i in range(12)))
CLOCK_SOURCES = ("beat", "downbeat", "phase", "bar_phase", "bpm", "tempo", "tap", "audio/bpm",
                 "midi/bpm", "midi/start", "midi/stop", "midi/continue", "midi/clock")
_MIDI_SHAPES = {"cc": 2, "note": 2, "polytouch": 2, "pitchbend": 1, "aftertouch": 1, "program": 1}


def _did_you_mean(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return f'; did you mean "{close[0]}"?' if close else ""


def source_problem(source: str) -> str | None:
    """Why no input sends `source` (None when one can).  `osc/...` is anything a host sends;
    `param/` and `trigger/` are checked against the show's parameters at start."""
    kind, _, rest = source.partition("/")
    if kind in ("osc", "param", "trigger", "key", "replay") and rest:
        return None
    if kind == "audio":
        if rest in AUDIO_SOURCES or (rest.startswith("chroma/") and rest[7:] == "*") or rest == "*":
            return None
        return f'no audio feature "{source}"' + _did_you_mean(rest, AUDIO_SOURCES).replace('"', '"audio/', 1)
    if kind == "clock":
        if rest in CLOCK_SOURCES or rest == "*":
            return None
        return f'no clock signal "{source}"' + _did_you_mean(rest, CLOCK_SOURCES).replace('"', '"clock/', 1)
    if kind == "midi":
        parts = rest.split("/")
        want = _MIDI_SHAPES.get(parts[0])
        if want is None:
            return f'no MIDI message kind "{parts[0]}" in "{source}" (cc, note, pitchbend, aftertouch, ' \
                   f'polytouch, program)' + _did_you_mean(parts[0], _MIDI_SHAPES)
        if len(parts) - 1 != want:
            shape = "midi/" + parts[0] + ("/<channel>/<number>" if want == 2 else "/<channel>")
            return f'"{source}" should look like {shape}'
        for seg, top in zip(parts[1:], (15, 127)):
            if seg != "*" and not (seg.isdigit() and int(seg) <= top):
                return f'"{source}": "{seg}" is not a number 0..{top} (or *)'
        return None
    if kind == "joystick":
        parts = rest.split("/")
        if len(parts) == 2 and parts[0] in ("axis", "button") and (parts[1] == "*" or parts[1].isdigit()):
            return None
        return f'"{source}" should look like joystick/axis/<n> or joystick/button/<n>'
    return (f'no input sends "{source}" (sources start with audio/, clock/, joystick/, midi/, osc/, param/ or trigger/)'
            + _did_you_mean(kind, ("audio", "clock", "joystick", "midi", "osc", "param", "trigger")).replace('"?', '/..."?'))


def npy_problem(path: Path, what: str, ndim: tuple[int, ...]) -> str | None:
    """Why a .npy file cannot be a keyframe (a z vector, 1-D) or directions ((k, w_dim)); never
    unpickles (allow_pickle=False)."""
    import numpy as np

    try:
        a = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        return f"{what} file not found: {path}"
    except (OSError, ValueError, EOFError) as e:
        reason = (str(e).strip().splitlines() or ["unreadable"])[0][:200]
        return f"{path} is not a readable .npy array ({reason})"
    if not isinstance(a, np.ndarray) or a.dtype.kind not in "fiu":
        return f"{path} holds {getattr(a, 'dtype', type(a).__name__)}, expected numbers"
    shape = tuple(a.shape)
    if what == "keyframe" and a.ndim == 2 and 1 in shape:  # (1, z_dim) is a saved batch of one
        shape = (a.size,)
    if len(shape) not in ndim or 0 in shape:
        want = "a z vector (z_dim,)" if what == "keyframe" else "(k, w_dim) direction vectors"
        return f"{path} has shape {tuple(a.shape)}, expected {want}"
    if not np.isfinite(a).all():
        return f"{path} holds NaN or infinite values"
    return None


def patch_warnings(patch: Patch, filename: str, lines: dict) -> list[str]:
    out: list[str] = []

    def warn(path: tuple, message: str) -> None:
        line = line_of(lines, path)
        out.append(f"{filename}:{line}: warning: {message}" if line else f"{filename}: warning: {message}")

    audio_on = patch.inputs.audio.enabled
    midi_on = patch.inputs.midi.enabled
    for i, m in enumerate(patch.mappings):
        if m.source.startswith("audio/") and not audio_on:
            warn(("mapping", i, "source"), f'mapping[{i}] listens to "{m.source}" but [inputs.audio] is off')
        if m.source.startswith("midi/") and not midi_on:
            warn(("mapping", i, "source"), f'mapping[{i}] listens to "{m.source}" but [inputs.midi] is off')
        if m.takeover == "relative" and m.curve != "lin":
            warn(("mapping", i, "curve"), f"mapping[{i}]: relative controls move linearly; curve is ignored")
        if m.envelope and m.takeover != "jump":
            warn(("mapping", i, "takeover"), f"mapping[{i}]: attack/release mappings ignore takeover")
    if patch.clock.source == "audio" and not audio_on:
        warn(("clock", "source"), 'clock source "audio" needs [inputs.audio] enabled')
    if patch.clock.source == "midi" and not midi_on:
        warn(("clock", "source"), 'clock source "midi" needs [inputs.midi] enabled')
    if not patch.keyframes:
        warn(("keyframes",), "no [[keyframes]]: four are drawn from [model] seed")
    seen: dict[tuple, int] = {}
    for i, m in enumerate(patch.mappings):
        key = (m.source, m.target)
        if key in seen:
            warn(("mapping", i), f"mapping[{i}] repeats mapping[{seen[key]}] ({m.source} -> {m.target})")
        seen.setdefault(key, i)
    return out


def unknown_targets(patch: Patch, names: Iterable[str]) -> list[str]:
    """Messages for mappings whose target is not among `names` (the show's real parameters:
    trajectory, shader chain, engine), with the line and the closest real name.  The engine calls
    this once the shader chain has declared its uniforms; such mappings are skipped, not fatal."""
    names = sorted(set(names))
    lines: dict = {}
    filename = str(patch.source_path) if patch.source_path else "<patch>"
    if patch.source_path is not None:
        try:
            lines = key_lines(Path(patch.source_path).read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError):  # changed on disk since it was loaded
            lines = {}
    out = []
    for i, m in enumerate(patch.mappings):
        if m.target in names:
            continue
        close = difflib.get_close_matches(m.target, names, n=1, cutoff=0.6)
        hint = f'; did you mean "{close[0]}"?' if close else "; see docs/osc.md for the names"
        line = line_of(lines, ("mapping", i, "target"))
        where = f"{filename}:{line}" if line else filename
        out.append(f'{where}: mapping[{i}].target: no parameter "{m.target}" in this show '
                   f"(the mapping is ignored){hint}")
    return out
