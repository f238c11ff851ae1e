"""Hot reload never applies a half-saved patch (issue 12, item 4): an editor that truncates the
file before writing it, a save that leaves it empty or only comments, a file moved away and back.
The show keeps its last good patch (mappings, passes, trajectory), says why, and takes the next
good save."""

from __future__ import annotations

import os
import time
from pathlib import Path

from latentperform.clock import WallClock
from latentperform.config import DEFAULT_PATCH
from latentperform.engine import open_show
from latentperform.engine.stage import PatchWatcher
from latentperform.models import BuiltinGenerator
from latentperform.patch import load_patch
from latentperform.render import HeadlessSurface


def _touch(path: Path) -> None:
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, max(st.st_mtime_ns + 10_000_000, time.time_ns() + 10_000_000)))


def _until(eng, cond, timeout=8.0):
    t0 = time.monotonic()
    while not cond() and time.monotonic() - t0 < timeout:
        eng.step()
        time.sleep(0.02)
    return cond()


def test_an_empty_or_vanished_patch_keeps_the_last_good_one(tmp_path):
    text = DEFAULT_PATCH.read_text().replace("enabled = true          # live", "enabled = false  # live")
    text += '\n[[mapping]]\nsource = "osc/keep/me"\ntarget = "latent/truncation"\n'
    path = tmp_path / "show.toml"
    path.write_text(text)
    eng = open_show(load_patch(path), surface=HeadlessSurface((64, 64)), clock=WallClock(), fps=30,
                    generator=BuiltinGenerator(resolution=32))
    watcher = eng.add_part(PatchWatcher(path, interval=0.05))
    rules = len(eng.mapper.rules)
    passes = list(eng.chain.pass_names)
    try:
        eng.step()
        # 1. the editor truncates first: an empty file
        path.write_bytes(b"")
        _touch(path)
        assert _until(eng, lambda: watcher.rejected == 1)
        assert "empty" in "\n".join(eng.stats.errors)
        assert len(eng.mapper.rules) == rules and eng.chain.pass_names == passes
        # 2. only comments (what is left of a bad merge): not applied either
        path.write_text("# nothing here\n\n   # still nothing\n")
        _touch(path)
        assert _until(eng, lambda: watcher.rejected == 2)
        assert len(eng.mapper.rules) == rules and watcher.applied == 0
        # 3. moved away (a save through a temporary file, interrupted): gone, reported, kept
        path.unlink()
        assert _until(eng, lambda: watcher.rejected == 3)
        assert "gone" in "\n".join(eng.stats.errors)
        assert any(r.m.source == "osc/keep/me" for r in eng.mapper.rules)
        # 4. the next good save is applied
        path.write_text(text.replace("osc/keep/me", "osc/new/one"))
        assert _until(eng, lambda: watcher.applied == 1)
        assert any(r.m.source == "osc/new/one" for r in eng.mapper.rules)
        assert len(eng.mapper.rules) == rules
    finally:
        eng.close()
        eng.surface.close()


def test_a_file_written_in_steps_is_read_once_it_is_still(tmp_path):
    """An editor writing in several steps (a truncate, then the text in two pieces, 100 ms
    apart): the watcher waits until the file has not changed for STABLE_S and applies the whole."""
    text = DEFAULT_PATCH.read_text().replace("enabled = true          # live", "enabled = false  # live")
    path = tmp_path / "show.toml"
    path.write_text(text)
    eng = open_show(load_patch(path), surface=HeadlessSurface((64, 64)), clock=WallClock(), fps=30,
                    generator=BuiltinGenerator(resolution=32))
    watcher = eng.add_part(PatchWatcher(path, interval=0.05))
    try:
        eng.step()
        edited = text + '\n[[mapping]]\nsource = "osc/two/steps"\ntarget = "latent/truncation"\n'
        half = len(edited) // 2
        with open(path, "w") as f:
            f.flush()
            time.sleep(0.1)
            f.write(edited[:half])
            f.flush()
            time.sleep(0.1)
            f.write(edited[half:])
        assert _until(eng, lambda: watcher.applied + watcher.rejected >= 1)
        time.sleep(0.5)
        for _ in range(5):
            eng.step()
        assert watcher.rejected == 0 and watcher.applied == 1, list(eng.stats.errors)
        assert any(r.m.source == "osc/two/steps" for r in eng.mapper.rules)
    finally:
        eng.close()
        eng.surface.close()
