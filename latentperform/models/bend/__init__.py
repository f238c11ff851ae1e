"""Network bending: operations inserted at a chosen layer of the synthesis network.

    base.py      BendOp (settings with a neutral value, apply), the OPS registry
    layers.py    which layers a network has (`inspect MODEL --layers`), dry-run capture
    clusters.py  channels grouped by their activation patterns (cached per model)
    bender.py    Bender: the patch's bends attached to a network as forward hooks

An op is one file here plus one line in _OP_MODULES; tests/models/test_bend.py runs the shared
op checks (identity at neutral, shape kept, finite) on every registered op.
"""

from importlib import import_module

from .base import OPS, BendOp, BendSetting, register
from .bender import Bender, BendSpec
from .layers import LayerInfo, bend_layers

_OP_MODULES = (
    "scale",
    "transform",
    "morph",
    "noise",
    "shuffle",
    "ablate",
)
for _name in _OP_MODULES:
    import_module(f"{__name__}.{_name}")

__all__ = ["OPS", "BendOp", "BendSetting", "Bender", "BendSpec", "LayerInfo", "bend_layers", "register"]
