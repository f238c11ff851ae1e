"""What a show needs of an atlas to travel it: the map and W, checked against the show's model.

    data = travel_data("my.atlas", generator, "builtin")   # -> Trajectory(..., data={"atlas": data})

The arrays go to latent.modes.atlas (which knows nothing of files or models); a wrong or damaged
atlas is an AtlasError here, before the show starts.
"""

from __future__ import annotations

import os

import numpy as np

from .atlasfile import read_atlas
from .sample import check_model


def travel_data(path: str | os.PathLike, generator, spec: str) -> dict:
    atlas = read_atlas(path)
    check_model(atlas.model, generator, str(spec), str(path))
    return {
        "xy": atlas.positions.astype(np.float64),
        "w": atlas.w.astype(np.float32),
        "labels": atlas.labels.astype(np.int64),
        "centres": np.array([r.centre for r in atlas.regions], dtype=np.float64).reshape(-1, 2),
        "names": [r.name for r in atlas.regions],
        "source": os.path.basename(str(path)),
        "psi": atlas.psi,
    }
