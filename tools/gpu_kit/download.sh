#!/usr/bin/env bash
# Fetch, on a machine that reaches the package index, what tools/gpu_check.sh installs on the
# borrowed GPU machine (no network there): wheels for CPython 3.12 on x86-64 Linux, without
# dependencies (each one the GPU image lacks is named in the requirements files), into
# .gpu_kit/ (git-ignored), which the device tool's run then carries:
#
#   bash tools/gpu_kit/download.sh              # .gpu_kit/wheels: requirements.txt (~1.5 MB)
#   bash tools/gpu_kit/download.sh --detector   # also .gpu_kit/detector: requirements-detector.txt
#                                               # and mmcv 2.1.0's source (~7 MB)
#
# Each folder is emptied first (two versions of a package would stop the install there). A
# CUDA build of mmcv that a --detector run brought back (its parts in that run's output, see
# docs/speed.md) goes to .gpu_kit/built/ and is kept.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$REPO"
DETECTOR=0
for arg in "$@"; do
  case "$arg" in
    --detector) DETECTOR=1 ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0 ;;
    *) echo "download.sh: unknown argument $arg (use --detector or nothing)" >&2; exit 2 ;;
  esac
done
PY=python3
[[ -x .venv/bin/python ]] && PY=.venv/bin/python
TARGET=(--python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64
        --platform manylinux_2_24_x86_64 --platform manylinux_2_17_x86_64
        --platform manylinux2014_x86_64 --platform any)
download() {  # FOLDER REQUIREMENTS
  rm -rf "$1" && mkdir -p "$1"
  "$PY" -m pip download -q --no-deps --only-binary=:all: "${TARGET[@]}" -d "$1" -r "$2"
}
download .gpu_kit/wheels tools/gpu_kit/requirements.txt
if [[ $DETECTOR == 1 ]]; then
  download .gpu_kit/detector tools/gpu_kit/requirements-detector.txt
  # mmcv's source: pip prepares its metadata by running its setup.py, which imports torch
  "$PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation \
    -d .gpu_kit/detector mmcv==2.1.0
fi
mkdir -p .gpu_kit/built
du -sh .gpu_kit/* | sed 's/^/[gpu_kit] /'
echo "[gpu_kit] carry .gpu_kit in the device call: see the header of tools/gpu_check.sh"
