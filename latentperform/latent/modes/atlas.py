"""Mode "atlas": a place on the atlas map gives the latent W (`latentperform atlas` makes the map).

The patch names the atlas (`[trajectory] atlas = "my.atlas"`, which implies this mode); the show
reads it, checks it against the model and hands its arrays to the mode as `ctx.data["atlas"]`
(engine/reload.make_trajectory; this module knows nothing of files or models):
{"xy": (N, 2), "w": (N, w_dim), "labels", "centres", "names", "source"}.  The map's W replaces
mapping(z); the directions and pulses still add to it.  Under the map the keyframe loop goes on
in z (the z layers and the keyframe triggers keep their meaning; the picture is the map's).

Parameters (and their OSC addresses):
    atlas/x, atlas/y   the place on the map, 0..1 (left to right, top to bottom as on the poster);
                       `/lp/atlas/xy x y` sets both (TouchOSC's XY pad), or map two MIDI CCs
    atlas/zoom         how locally the map is read: 1 = a soft blend of the nearest pictures,
                       up to 16 = the nearest samples alone, down to 0.25 = wide blends
    atlas/step         trigger: go to the next neighbouring region (map audio/onset to it)
    atlas/tour         on (>= 0.5): visit the regions one per bar, locked to the beat
"""

from __future__ import annotations

import numpy as np

from ...config import UserError
from ...events import ParamSpec, ParamState
from ..atlas_travel import AtlasTravel
from ..maplookup import ZOOM_RANGE
from .base import LatentPoint, ModeContext
from .keyframes import KeyframeLoop

DEFAULT_GLIDE = 0.15


def atlas_param_specs() -> list[ParamSpec]:
    """The mode's parameters (the same for every atlas; docs/osc.md lists them from here)."""
    return [
        ParamSpec("atlas", 0.0, 0.0, 1.0, "the atlas XY pad: two arguments set atlas/x and atlas/y at once",
                  osc="/lp/atlas/xy", args="ff"),
        ParamSpec("atlas/x", 0.5, 0.0, 1.0, "place on the atlas map, left (0) to right (1)", osc="/lp/atlas/x"),
        ParamSpec("atlas/y", 0.5, 0.0, 1.0, "place on the atlas map, top (0) to bottom (1)", osc="/lp/atlas/y"),
        ParamSpec("atlas/zoom", 1.0, ZOOM_RANGE[0], ZOOM_RANGE[1],
                  "how locally the map is read: 1 a soft blend of the nearest pictures, 16 the nearest alone",
                  osc="/lp/atlas/zoom"),
        ParamSpec("atlas/tour", 0.0, 0.0, 1.0, "on (>= 0.5): visit the atlas regions one per bar, on the beat",
                  osc="/lp/atlas/tour"),
        ParamSpec("atlas/step", 0.0, 0.0, 1.0, "go to the next neighbouring atlas region (map audio/onset here)",
                  kind="trigger", osc="/lp/atlas/step", args=""),
    ]


class AtlasMode(KeyframeLoop):
    name = "atlas"

    def __init__(self, ctx: ModeContext) -> None:
        super().__init__(ctx)
        data = ctx.data.get("atlas")
        if data is None:
            raise UserError('trajectory mode "atlas" needs an atlas: [trajectory] atlas = "NAME.atlas" '
                            "(make one with `latentperform atlas MODEL --out NAME.atlas`)")
        glide = ctx.setting("atlas_glide")
        self.glide = DEFAULT_GLIDE if glide is None else float(glide)
        self.names = list(data.get("names") or [])
        self.travel = AtlasTravel(np.asarray(data["xy"]), np.asarray(data["w"]), data.get("labels"),
                                  data.get("centres"), glide=self.glide)
        self.source = str(data.get("source", "atlas"))

    def param_specs(self) -> list[ParamSpec]:
        return [*super().param_specs(), *atlas_param_specs()]

    def base(self, params: ParamState, dt: float) -> LatentPoint:
        z = super().base(params, dt).z
        return LatentPoint(z=z, ws=self.map_w(params, dt, int(self.ctx.space.num_ws)))

    def map_w(self, params: ParamState, dt: float, num_ws: int) -> np.ndarray:
        """(num_ws, w_dim) float32 W for this tick, from the place on the map."""
        def get(name, default):
            v = params.values.get(name, default)
            return default if v != v else float(v)  # NaN never moves the map
        w = self.travel.step(get("atlas/x", 0.5), get("atlas/y", 0.5), get("atlas/zoom", 1.0), dt,
                             beat=float(params.beat), beats_per_bar=int(params.beats_per_bar),
                             tour=get("atlas/tour", 0.0) >= 0.5, steps=len(params.fired("atlas/step")))
        return np.broadcast_to(w, (int(num_ws), w.shape[0])).astype(np.float32)

    def carry_from(self, old) -> None:
        super().carry_from(old)
        if isinstance(old, AtlasMode):
            self.travel.carry_from(old.travel)

    def status_lines(self) -> list[str]:
        """The overlay's line: the place on the map and its region (the minimap is drawn under it)."""
        t = self.travel
        name = self.names[t.region] if 0 <= t.region < len(self.names) else str(t.region)
        return [f"atlas {self.source}: ({t.position[0]:.2f}, {t.position[1]:.2f}) "
                f"region {chr(ord('a') + t.region % 26)} {name}"]

    def text_minimap(self) -> list[str]:
        """The map as text (regions as letters, the trail '·', the place '@'), for text-only views."""
        return self.travel.minimap()

    def map_picture(self, size: int = 512) -> np.ndarray:
        """The map's regions alone, (size, size, 4) RGBA, x and y 0..1 edge to edge (the control
        room's map panel draws the place on it)."""
        return self.travel.picture(size, bare=True)

    def overlay_picture(self) -> np.ndarray:
        """The drawn minimap: regions in colours, the trail, the place (latent/atlas_travel.py)."""
        return self.travel.picture()
