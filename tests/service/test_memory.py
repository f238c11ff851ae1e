"""Freed memory given back to the system (service/memory.py): glibc keeps what a program freed in
its heap; malloc_trim gives it back.  Measured on a real process's resident size, and on a real
unattended show, whose state file says its resident size and the trim's cost."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from latentperform.engine import installation
from latentperform.engine.installation import ServicePart
from latentperform.service import memory
from latentperform.service.notify import Notifier
from latentperform.service.state import read_json

ROOT = Path(__file__).resolve().parents[2]

FRAGMENTS = textwrap.dedent("""
    import json, numpy as np
    from latentperform.service import memory
    mib = lambda: memory.rss_bytes() / 2 ** 20
    before = mib()
    blocks = [np.ones(100_000 // 8) for _ in range(2000)]  # 200 MB in blocks malloc keeps on its heap
    keep = np.ones(100_000 // 8)                           # above them: the heap's top stays in use
    full = mib()
    del blocks                                             # freed, but the pages stay with the process
    freed = mib()
    took = memory.trim()
    print(json.dumps({"before": before, "full": full, "freed": freed, "trimmed": mib(), "took": took}))
""")


@pytest.mark.skipif(memory.trim() is None, reason="no malloc_trim in this C library (not glibc)")
def test_trim_gives_freed_heap_memory_back():
    out = subprocess.run([sys.executable, "-c", FRAGMENTS], capture_output=True, text=True, timeout=120,
                         cwd=ROOT, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert out.returncode == 0, out.stderr
    import json
    m = json.loads(out.stdout)
    assert m["full"] - m["before"] > 150, m
    assert m["freed"] > m["full"] - 40, f"glibc gave the memory back by itself (nothing to show): {m}"
    assert m["trimmed"] < m["freed"] - 150, f"malloc_trim gave nothing back: {m}"
    assert 0.0 <= m["took"] < 5.0


def test_rss_is_this_process():
    status = Path("/proc/self/status").read_text()
    vm = int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) * 1024
    assert abs(memory.rss_bytes() - vm) < 64 * 2 ** 20


def test_an_unattended_show_trims_and_says_its_memory(tmp_path, monkeypatch):
    from latentperform.clock import FixedStepClock
    from latentperform.config import DEFAULT_PATCH
    from latentperform.engine import Engine
    from latentperform.models import BuiltinGenerator
    from latentperform.patch import load_patch
    from latentperform.render import HeadlessSurface
    from latentperform.service.units import status_lines

    calls = []
    real = memory.trim
    monkeypatch.setattr(installation, "TRIM_EVERY_S", 0.2)
    monkeypatch.setattr(memory, "trim", lambda: calls.append(1) or real())
    eng = Engine(load_patch(DEFAULT_PATCH), surface=HeadlessSurface((96, 64)), clock=FixedStepClock(10),
                 fps=10, offline=True, generator=BuiltinGenerator(resolution=32))
    try:
        part = eng.add_part(ServicePart("t", notifier=Notifier({}), state_file=tmp_path / "t.json", every=0.1))
        t0 = time.monotonic()
        while time.monotonic() - t0 < 1.0:
            eng.step()
            time.sleep(0.02)
        assert 2 <= len(calls) <= 6, calls  # about every 0.2 s, never every frame
        part.close()
        state = read_json(tmp_path / "t.json")
        assert 50 < state["rss_mib"] < 20000 and state["trim_ms"] is not None and state["trim_ms"] >= 0
        lines = status_lines("t", folder=tmp_path)
        assert any(line.startswith("  memory: ") and "MiB resident" in line for line in lines), lines
    finally:
        eng.close()
        eng.surface.close()
