"""Atlas places -> patch keyframes, written into the patch file with its comments kept.

    text = add_keyframes(patch_text, [{"name": "blue-ripples", "seed": 812}, {"file": "found.npy"}])

A region's keyframe is its representative's seed (the same z the atlas sampled); a found or
varied place is a z saved as .npy beside the patch (`save_z`).  The caller checks the new text
as a patch before it replaces the file (cli.py does), so a bad edit never reaches the disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import tomlkit
from tomlkit.exceptions import TOMLKitError

from ..config import UserError, write_atomic
from .atlasfile import Atlas


def region_keyframes(atlas: Atlas, beats: float | None = None) -> list[dict]:
    out = []
    for r in atlas.regions:
        k = {"name": r.name, "seed": int(atlas.seeds[r.representative])}
        if beats is not None:
            k["beats"] = float(beats)
        out.append(k)
    return out


def add_keyframes(patch_text: str, keyframes: list[dict], replace: bool = False, source: str = "patch") -> str:
    """The patch text with `keyframes` appended to [[keyframes]] (or replacing them)."""
    try:
        doc = tomlkit.parse(patch_text)
    except TOMLKitError as e:
        raise UserError(f"{source}: not valid TOML ({e})") from None
    if replace and "keyframes" in doc:
        del doc["keyframes"]
    aot = doc.get("keyframes")
    if aot is None:
        aot = tomlkit.aot()
        doc.append("keyframes", aot)
    elif not isinstance(aot, tomlkit.items.AoT):
        raise UserError(f"{source}: keyframes must be an array of tables ([[keyframes]])")
    for k in keyframes:
        t = tomlkit.table()
        for key, value in k.items():
            t[key] = value
        aot.append(t)
    return tomlkit.dumps(doc)


def save_z(z: np.ndarray, path: str | os.PathLike) -> Path:
    path = Path(path)
    try:
        np.save(path, np.asarray(z, np.float64).reshape(-1), allow_pickle=False)
    except OSError as e:
        raise UserError(f"cannot write {path}: {e.strerror or e}") from None
    return path


def replace_text(path: str | os.PathLike, text: str) -> None:
    """Write atomically (config.write_atomic: a temporary file in the same folder, then rename)."""
    write_atomic(path, text)


def toml_snippet(keyframes: list[dict]) -> str:
    doc = tomlkit.document()
    aot = tomlkit.aot()
    for k in keyframes:
        t = tomlkit.table()
        for key, value in k.items():
            t[key] = value
        aot.append(t)
    doc.append("keyframes", aot)
    return tomlkit.dumps(doc)
