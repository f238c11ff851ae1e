"""One small atlas of the built-in network, shared by the find and show tests (built once)."""

from __future__ import annotations

import io

import pytest

from latentperform.atlas.build import build_atlas
from latentperform.models import BuiltinGenerator


@pytest.fixture(scope="session")
def builtin_atlas(tmp_path_factory):
    """(generator at 32 px, the atlas) of 192 samples with 32 px thumbnails, in its own folder."""
    folder = tmp_path_factory.mktemp("builtin-atlas")
    G = BuiltinGenerator(resolution=32)
    atlas = build_atlas(G, "builtin", folder / "map.atlas", samples=192, size=32, stream=io.StringIO(), poster=None)
    return G, atlas
