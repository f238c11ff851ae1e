"""The patch: file format (schema, validation with file:line messages) and the mapping rules.

Pure: imports neither torch nor GL, so `latentperform check` and the tests run anywhere.
"""

from .check import check_patch, unknown_targets
from .mapping import Mapper, apply_curve, decode_relative, match_source
from .params import engine_param_specs, target_problem
from .reader import PatchError
from .schema import (AudioSection, ClockSection, InputsSection, Keyframe, Mapping, MidiSection,
                     ModelSection, OscSection, OutputSection, Patch, PatchInfo, TrajectorySection,
                     load_patch, parse_patch)

__all__ = [
    "AudioSection", "ClockSection", "InputsSection", "Keyframe", "Mapper", "Mapping", "MidiSection",
    "ModelSection", "OscSection", "OutputSection", "Patch", "PatchError", "PatchInfo",
    "TrajectorySection", "apply_curve", "check_patch", "decode_relative", "engine_param_specs",
    "load_patch", "match_source", "parse_patch", "target_problem", "unknown_targets",
]
