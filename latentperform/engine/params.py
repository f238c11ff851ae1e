"""The registry groups every show has (the engine side of latentperform/registry.py).

    core_param_groups(trajectory_specs, shader_specs, bpm) -> {owner: specs}
        "engine" (blackout, freeze), "trajectory", "shaders", "clock" (tempo, tap), in that order;
        a running show and `osc-docs` fill their registries with these, parts add "part:..." groups
"""

from __future__ import annotations

from ..events import ParamSpec
from ..patch.params import ENGINE_SPECS, clock_param_specs

__all__ = ["ENGINE_SPECS", "core_param_groups", "part_owner"]


def core_param_groups(trajectory_specs, shader_specs, bpm: float = 120.0) -> dict[str, list[ParamSpec]]:
    return {"engine": list(ENGINE_SPECS), "trajectory": list(trajectory_specs),
            "shaders": list(shader_specs), "clock": list(clock_param_specs(bpm))}


def part_owner(part) -> str:
    """The registry group of one attached part."""
    return f"part:{type(part).__name__}:{id(part):x}"
