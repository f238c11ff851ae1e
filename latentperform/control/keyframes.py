"""Keyframe edits from the control room, written back into the patch's [[keyframes]].

Like MIDI learn, an edit changes the patch file itself (tomlkit: comments and order kept; a
temporary file renamed over it), and the show's patch watcher reloads it; the trajectory then
carries its state over.  So the keyframes a page made are the patch's from then on: a later
`render` of the patch has them, and nothing is lost when the show stops.

"Add current" saves the current latent z as `<patch stem>.keyframes/<n>.npy` beside the patch
(a `file = ...` keyframe).  A patch without [[keyframes]] plays four drawn from the model seed;
the first edit writes those four out as `seed = ...` tables, so the loop the audience saw stays.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Sequence

import numpy as np
import tomlkit
from tomlkit.exceptions import TOMLKitError

from ..config import UserError, write_atomic


def _load(path: Path):
    try:
        return tomlkit.parse(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise UserError(f"cannot read the patch {path}: {e.strerror}") from None
    except TOMLKitError as e:
        raise UserError(f"{path}: not valid TOML ({e}); fix it before editing keyframes") from None


def _keyframes(doc, path: Path, implicit_seeds: Sequence[int]):
    kfs = doc.get("keyframes")
    if kfs is None:
        kfs = tomlkit.aot()
        for seed in implicit_seeds:
            t = tomlkit.table()
            t.add("seed", int(seed))
            kfs.append(t)
        doc.append("keyframes", kfs)
    elif not isinstance(kfs, list):
        raise UserError(f"{path}: 'keyframes' must be an array of tables ([[keyframes]])")
    return kfs


def _save(doc, path: Path) -> None:
    try:
        write_atomic(path, tomlkit.dumps(doc))  # the patch's own mode kept
    except OSError as e:
        raise UserError(f"cannot write the patch {path}: {e.strerror}") from None


def add_keyframe(patch_path, z: np.ndarray, implicit_seeds: Sequence[int] = (), name: str = "") -> int:
    """Append the latent `z` as a keyframe; returns its index."""
    path = Path(patch_path)
    doc = _load(path)
    kfs = _keyframes(doc, path, implicit_seeds)
    folder = path.with_name(path.stem + ".keyframes")
    try:
        folder.mkdir(exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        target = folder / f"{stamp}.npy"
        k = 1
        while target.exists():
            k += 1
            target = folder / f"{stamp}-{k}.npy"
        np.save(target, np.asarray(z, dtype=np.float32).reshape(-1))
    except OSError as e:
        raise UserError(f"cannot save the keyframe beside the patch ({folder}): {e.strerror}") from None
    t = tomlkit.table()
    t.add("file", os.path.relpath(target, path.parent))
    if name:
        t.add("name", name)
    t["file"].comment("added in the control room")
    kfs.append(t)
    _save(doc, path)
    return len(kfs) - 1


def delete_keyframe(patch_path, index: int, implicit_seeds: Sequence[int] = ()) -> None:
    path = Path(patch_path)
    doc = _load(path)
    kfs = _keyframes(doc, path, implicit_seeds)
    if not 0 <= index < len(kfs):
        raise UserError(f"there is no keyframe {index} (the patch has {len(kfs)})")
    if len(kfs) <= 1:
        raise UserError("a show needs at least one keyframe: add another before deleting this one")
    del kfs[index]
    _save(doc, path)


def move_keyframe(patch_path, index: int, to: int, implicit_seeds: Sequence[int] = ()) -> None:
    path = Path(patch_path)
    doc = _load(path)
    kfs = _keyframes(doc, path, implicit_seeds)
    n = len(kfs)
    if not 0 <= index < n:
        raise UserError(f"there is no keyframe {index} (the patch has {n})")
    to = min(max(int(to), 0), n - 1)
    if to == index:
        return
    tables = [kfs[i] for i in range(n)]
    tables.insert(to, tables.pop(index))
    new = tomlkit.aot()
    for t in tables:
        new.append(t)
    doc["keyframes"] = new
    _save(doc, path)
