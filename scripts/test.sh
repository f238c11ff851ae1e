#!/usr/bin/env bash
# Install what the tests need (system packages too) and run the whole suite.
# LP_SLOW=1 also runs the long soak/fuzz versions.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
export PYTHONUNBUFFERED=1
exec python3 -m pytest -q "$@"
