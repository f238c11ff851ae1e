"""Input kinds, registered by name: a kind is a module with a fixed face (as mido's backends are).

    LABEL                                   the heading `latentperform devices` prints
    list_devices() -> list[str]             what a show could open, one line each (raises when the
                                            kind cannot work here; the line says what to install)
    open_inputs(section, queue, clock, **context)
                                            start the inputs the patch's section names, putting
                                            ControlEvents on `queue`; returns what it opened
                                            (each has close()); context: what the kind needs more
                                            (named open_inputs, not open: a module-level `open`
                                            would shadow the builtin in the kind's own module)

A new input kind: one module with that face and one line in INPUT_KINDS below.  `latentperform
devices` is a loop over INPUT_KINDS; tests/inputs/test_kinds.py checks every registered kind's face.
"""

from __future__ import annotations

import importlib
from types import ModuleType

INPUT_KINDS: dict[str, str] = {
    "midi": "latentperform.inputs.midi",
    "osc": "latentperform.inputs.osc",
    "audio": "latentperform.inputs.audio",
    "joystick": "latentperform.inputs.joystick",
}


def input_kind(name: str) -> ModuleType:
    """The module of input kind `name` (imported on first use)."""
    return importlib.import_module(INPUT_KINDS[name])


def device_lines() -> list[str]:
    """Every kind's heading and its devices (or why it is unavailable here)."""
    lines: list[str] = []
    for name in INPUT_KINDS:
        try:
            kind = input_kind(name)
        except Exception as e:  # its library is missing
            lines += [f"{name}:", f"  unavailable: {e}"]
            continue
        lines.append(f"{kind.LABEL}:")
        try:
            lines += [f"  {line}" for line in kind.list_devices()] or ["  (none)"]
        except Exception as e:
            lines.append(f"  unavailable: {e}")
    return lines
