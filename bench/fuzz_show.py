"""The show fuzzer, long: random and mutated OSC, patch edits and argument lists thrown at a
running headless show (tests/fuzz_show.py), then valid input, then what the show wrote.

    python bench/fuzz_show.py [--seconds 120] [--seed 0] [--rate 400]

Prints: inputs tried, show alive, frames kept (of fps x wall time), stalls over 100 ms, the
valid messages found in the event log afterwards, whether the log and the recording are whole.
The CI version is tests/engine/test_fuzz_show.py (5 s).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from fuzz_show import fuzz_show  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rate", type=float, default=400.0, help="hostile OSC datagrams a second")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="lp-fuzz-") as d:
        report = fuzz_show(a.seconds, Path(d), seed=a.seed, rate=a.rate)
    print("\n".join(report.lines()))
    for argv, why in report.argv_failures[:10]:
        print(f"  argv {argv}: {why}")
    if not report.alive:
        print(report.stderr_tail)
    return 0 if report.alive and not report.argv_failures else 1


if __name__ == "__main__":
    sys.exit(main())
