#!/usr/bin/env bash
# Command two of the README: set up .venv if needed (tools/setup_env.sh), check the style
# (ruff: line width, pycodestyle, pyflakes; isort: import order; settings in pyproject.toml),
# then run the test suite: with no arguments (or only -q) the fast part, then the end-to-end
# part marked slow; other arguments go to one pytest run (e.g. -m "not slow", -k hilo, -x).
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash tools/setup_env.sh
echo "[tests] style: ruff check, isort --check-only"
.venv/bin/ruff check .
.venv/bin/isort --check-only --quiet . || { echo "[tests] imports out of order: run .venv/bin/isort ." >&2; exit 1; }
if [[ $# -gt 0 && ! ( $# -eq 1 && "$1" == "-q" ) ]]; then
  echo "[tests] running pytest $*"
  exec .venv/bin/python -m pytest tests "$@"
fi
echo "[tests] running pytest: the fast part (-m 'not slow')"
.venv/bin/python -m pytest tests -m "not slow" --durations=10 "$@"
echo "[tests] running pytest: the end-to-end part (-m slow)"
exec .venv/bin/python -m pytest tests -m slow --durations=25 "$@"
