#!/usr/bin/env bash
# Command two of the README: set up .venv if needed (tools/setup_env.sh), then run the
# whole test suite. Extra arguments go to pytest (e.g. -k hilo, -x).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash tools/setup_env.sh
echo "[tests] running pytest"
exec .venv/bin/python -m pytest tests "$@"
