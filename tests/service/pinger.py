"""A stand-in show for the supervisor tests: it speaks the notify protocol like the real one
(READY once, WATCHDOG=1 every `--every` seconds) and appends its pid to a file, without the
seconds of importing torch.  `--ready-after` delays READY; `--exit-after` ends it with status 3."""

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from latentperform.service.notify import Notifier  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("pidfile")
p.add_argument("--every", type=float, default=0.1)
p.add_argument("--exit-after", type=float, default=None)
args = p.parse_args()
with open(args.pidfile, "a") as f:
    f.write(f"{os.getpid()} {time.time():.6f}\n")
n = Notifier()
n.ready("playing")
start = time.monotonic()
while True:
    n.watchdog()
    time.sleep(args.every)
    if args.exit_after is not None and time.monotonic() - start > args.exit_after:
        sys.exit(3)
