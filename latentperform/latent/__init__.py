"""Trajectories through latent space: keyframes, loops, glides, walks, XY pad, directions,
pulses, style mix.  Numpy only; knows the model's latent sizes and nothing else.

modes/: where the base point comes from, one file per mode, registered by name (`[trajectory]
mode`); the Trajectory adds the layers every mode shares."""

from .interp import ease_hold, slerp, smoothstep
from .keyframes import keyframe_z, random_directions, z_from_file, z_from_seed
from .trajectory import DEFAULTS, LatentSpace, Trajectory

__all__ = ["DEFAULTS", "LatentSpace", "Trajectory", "ease_hold", "keyframe_z", "random_directions",
           "slerp", "smoothstep", "z_from_file", "z_from_seed"]
