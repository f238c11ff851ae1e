"""The latent atlas: a map of a network's latent space to see, search and travel.

    build.py      sample seeds, render thumbnails, describe, lay out, regions -> NAME.atlas + poster
    atlasfile.py  the file (a zip of JSON + .npy, never pickle) and its checks
    sample.py     seeds -> W -> thumbnails in batches (resumable), the model's identity
    describe.py   colour and texture descriptors (no weights)
    layout.py     the 2D map (a torch UMAP-style graph layout; umap-learn or PCA on request)
    regions.py    k-means regions with stable names
    poster.py     the poster PNG
    find.py       where a picture lies on the map; variations around a place
    keyframes.py  regions / found places -> patch keyframes (comments kept)

The live lookup (map position -> W) is latent.maplookup: the engine uses it without this package.
"""

from .atlasfile import Atlas, AtlasError, Region, read_atlas, write_atlas

__all__ = ["Atlas", "AtlasError", "Region", "read_atlas", "write_atlas"]
