"""The atlas file: one zip holding a JSON header and plain .npy arrays.  Never a pickle.

    NAME.atlas (a zip archive)
      atlas.json        format, version, the model (spec, kind, sizes, probe W), the build settings,
                        the regions (name, representative, centre), the layout method
      seeds.npy         (N,) int64     the sample seeds: z = numpy default_rng(seed).standard_normal
      w.npy             (N, w_dim) float32   each sample's W (after the build's truncation psi)
      positions.npy     (N, 2) float32  the 2D map, in [0, 1]²
      labels.npy        (N,) int16      each sample's region
      descriptors.npy   (N, D) float32  picture descriptors (colour and texture statistics)
      thumbnails.npy    (N, S, S, 3) uint8

Why a zip of .npy: numpy reads each member with allow_pickle=False (so nothing in the file can
run code), any zip tool can list it, and a torn write is detected by the zip's CRCs.  Every
problem reading it (not a zip, missing member, wrong shapes, truncated) is one AtlasError line.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..config import UserError

FORMAT = "latentperform-atlas"
VERSION = 1
ARRAYS = ("seeds", "w", "positions", "labels", "descriptors", "thumbnails")


class AtlasError(UserError):
    """An atlas file that cannot be used: missing, damaged, foreign, or made for another model."""


@dataclass(frozen=True)
class Region:
    name: str
    representative: int          # index of the sample that shows it
    centre: tuple[float, float]  # on the map, [0, 1]²
    size: int                    # number of samples

    def to_dict(self) -> dict:
        return {"name": self.name, "representative": int(self.representative),
                "centre": [float(self.centre[0]), float(self.centre[1])], "size": int(self.size)}

    @classmethod
    def from_dict(cls, d: dict) -> "Region":
        return cls(str(d["name"]), int(d["representative"]), (float(d["centre"][0]), float(d["centre"][1])),
                   int(d["size"]))


@dataclass
class Atlas:
    model: dict              # spec, kind, z_dim, w_dim, num_ws, c_dim, probe_seeds, probe_w
    settings: dict           # samples, size, psi, seed_base, layout, descriptor names
    seeds: np.ndarray
    w: np.ndarray
    positions: np.ndarray
    labels: np.ndarray
    descriptors: np.ndarray
    thumbnails: np.ndarray
    regions: list[Region] = field(default_factory=list)
    directions: np.ndarray | None = None   # (k, 2) map arrows of the semantic directions
    path: Path | None = None

    def __len__(self) -> int:
        return len(self.seeds)

    @property
    def psi(self) -> float:
        return float(self.settings.get("psi", 1.0))

    def region_of(self, index: int) -> Region:
        return self.regions[int(self.labels[index])]

    def z_of(self, index: int) -> np.ndarray:
        from ..latent.keyframes import z_from_seed
        return z_from_seed(int(self.seeds[index]), int(self.model["z_dim"]))


def _npy(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(arr), allow_pickle=False)
    return buf.getvalue()


def write_atlas(atlas: Atlas, path: str | os.PathLike) -> Path:
    """Write atomically (a temporary file in the same folder, then rename): an interrupted
    write never leaves a half atlas under the real name."""
    path = Path(path)
    header = {
        "format": FORMAT, "version": VERSION, "count": len(atlas),
        "model": atlas.model, "settings": atlas.settings,
        "regions": [r.to_dict() for r in atlas.regions],
        "directions": None if atlas.directions is None else np.asarray(atlas.directions, float).tolist(),
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent or ".")
    try:
        with os.fdopen(fd, "wb") as f, zipfile.ZipFile(f, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("atlas.json", json.dumps(header, indent=1))
            for name in ARRAYS:
                arr = getattr(atlas, name)
                # stored, not deflated: the generator's pictures and the float arrays barely compress
                # (deflate saved 8 % of a 4,096-sample atlas and cost 14 s), and reading stays fast
                z.writestr(zipfile.ZipInfo(name + ".npy"), _npy(arr), compress_type=zipfile.ZIP_STORED)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    atlas.path = path
    return path


def read_atlas(path: str | os.PathLike) -> Atlas:
    """The atlas in `path`, checked; AtlasError (one line) for anything wrong with the file."""
    path = Path(path)
    if not path.is_file():
        raise AtlasError(f"{path}: no such atlas file" if not path.exists() else f"{path}: not a file")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
            if "atlas.json" not in names:
                raise AtlasError(f"{path}: not a latentperform atlas (no atlas.json inside)")
            header = json.loads(z.read("atlas.json"))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise AtlasError(f"{path}: not a latentperform atlas (format {header.get('format')!r})"
                                 if isinstance(header, dict) else f"{path}: not a latentperform atlas")
            if header.get("version") != VERSION:
                raise AtlasError(f"{path}: atlas version {header.get('version')!r}; this latentperform reads "
                                 f"version {VERSION} (rebuild it with `latentperform atlas`)")
            arrays = {}
            for name in ARRAYS:
                if name + ".npy" not in names:
                    raise AtlasError(f"{path}: damaged atlas ({name}.npy is missing)")
                with z.open(name + ".npy") as f:
                    arrays[name] = np.load(io.BytesIO(f.read()), allow_pickle=False)
    except AtlasError:
        raise
    except zipfile.BadZipFile:
        raise AtlasError(f"{path}: not an atlas file, or a truncated one (not a readable zip archive)") from None
    except (zipfile.LargeZipFile, EOFError, OSError, ValueError, KeyError, UnicodeDecodeError) as e:
        # CRC mismatch ("Bad CRC-32"), short reads, bad JSON, object arrays refused by allow_pickle
        raise AtlasError(f"{path}: damaged atlas ({type(e).__name__}: {e})") from None
    try:
        atlas = _assemble(header, arrays)
    except (KeyError, TypeError, ValueError, IndexError) as e:
        raise AtlasError(f"{path}: damaged atlas ({type(e).__name__}: {e})") from None
    atlas.path = path
    return atlas


def _assemble(header: dict, a: dict) -> Atlas:
    n = int(header["count"])
    model = dict(header["model"])
    w_dim = int(model["w_dim"])
    expect = {"seeds": (n,), "w": (n, w_dim), "positions": (n, 2), "labels": (n,)}
    for name, shape in expect.items():
        if a[name].shape != shape:
            raise ValueError(f"{name} has shape {a[name].shape}, expected {shape}")
    if a["descriptors"].ndim != 2 or len(a["descriptors"]) != n:
        raise ValueError(f"descriptors has shape {a['descriptors'].shape}")
    t = a["thumbnails"]
    if t.ndim != 4 or len(t) != n or t.shape[3] != 3 or t.dtype != np.uint8:
        raise ValueError(f"thumbnails has shape {t.shape} {t.dtype}, expected ({n}, S, S, 3) uint8")
    for name in ("w", "positions", "descriptors"):
        if not np.all(np.isfinite(a[name])):
            raise ValueError(f"{name} holds NaN or infinity")
    regions = [Region.from_dict(r) for r in header["regions"]]
    if n and (a["labels"].min() < 0 or a["labels"].max() >= len(regions)):
        raise ValueError("labels point outside the region list")
    for r in regions:
        if not 0 <= r.representative < n:
            raise ValueError(f"region {r.name!r} has representative {r.representative} outside 0..{n - 1}")
    dirs = header.get("directions")
    return Atlas(model=model, settings=dict(header["settings"]), seeds=a["seeds"].astype(np.int64),
                 w=a["w"].astype(np.float32), positions=a["positions"].astype(np.float32),
                 labels=a["labels"].astype(np.int16), descriptors=a["descriptors"].astype(np.float32),
                 thumbnails=t, regions=regions,
                 directions=None if dirs is None else np.asarray(dirs, dtype=np.float64).reshape(-1, 2))
