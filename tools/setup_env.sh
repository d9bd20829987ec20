#!/usr/bin/env bash
# Create (or reuse) the project's virtual environment at .venv with the whole
# OpenMMLab stack: torch 2.13 + torchvision 0.28, mmcv 2.1.0 with compiled ops,
# mmengine 0.10.7, mmdet 3.3, mmsegmentation 1.2.2, mmpretrain 1.2.0, pycocotools,
# the packages they use without declaring them, mmdeploy 1.3.1 + ONNX Runtime + OpenVINO for
# deployment, and litv2_mm in editable mode.
#
# Idempotent: a stamp file records a finished set-up (a hash of this script and setup.py)
# and whether mmcv was built with CUDA ops (mmcv_cuda=yes|no); a second run only checks
# imports and mmcv's ops. Where torch sees a GPU but mmcv has no CUDA ops (an environment
# built on a login node, or a CPU-only mmcv wheel from pip's cache), mmcv is rebuilt from
# source with FORCE_CUDA=1, and its ops are checked on CUDA against the CPU.
# Every step is named; a failing step stops the script with a non-zero exit.
set -Eeuo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
PY="$VENV/bin/python"
STAMP="$VENV/.litv2_mm_setup"
LOG_DIR="$VENV/setup_logs"
STEP="start"
PIP=("$PY" -m pip --disable-pip-version-check)

trap 'echo "[setup] FAILED at step: $STEP (see logs in $LOG_DIR)" >&2' ERR
step() { STEP="$1"; echo "[setup] >>> $STEP"; }
quiet_filter() { sed -u '/^Requirement already satisfied/d'; }

# Everything the stack needs, pinned to versions that work together.
TORCH_PINS=(torch==2.13.0 torchvision==0.28.0)
BUILD_PINS=("setuptools>=77.0.3,<81" wheel ninja "numpy>=1.24,<2.4")
MMCV_PIN=mmcv==2.1.0
STACK_PINS=(
  mmengine==0.10.7 mmdet==3.3.0 mmsegmentation==1.2.2 mmpretrain==1.2.0
  "pycocotools>=2.0.7" ftfy regex "numpy>=1.24,<2.4" "setuptools>=77.0.3,<81"
  "matplotlib>=3.7" "scipy>=1.10" "shapely>=2.0" "terminaltables>=3.1"
  "onnx>=1.16" "onnxruntime>=1.18" "openvino>=2024.0" "nncf>=3.0"
  "pytest>=7" "hypothesis>=6" "ruff>=0.6" "isort>=5.12"
)
# mmdeploy's wheel pins protobuf<=3.20.2, which onnx >= 1.16 cannot use (it needs protobuf 4+;
# mmdeploy itself runs with the newer one): installed without its declared needs, then the
# ones it imports. grpcio (its SNPE backend only) is left out.
MMDEPLOY_PIN=mmdeploy==1.3.1
MMDEPLOY_NEEDS=(aenum multiprocess prettytable dill wcwidth six)
SIGNATURE="$(cat "${BASH_SOURCE[0]}" "$REPO/setup.py" 2>/dev/null | sha256sum | cut -c1-16)"

# pip install -v of mmcv with the arguments given, its compiler's [n/77] lines as progress.
build_mmcv() {
  echo "[setup] a source build takes about 20 minutes on 2 cores (CPU kernels; CUDA's take longer)"
  "${PIP[@]}" install -v --no-build-isolation "$@" 2>&1 \
    | tee "$LOG_DIR/mmcv.log" \
    | { grep --line-buffered -E \
          '^ *\[[0-9]+/[0-9]+\]|Successfully|Building wheel|Stored in directory|rror' || true; } \
    | sed -u -E 's/^ *(\[[0-9]+\/[0-9]+\]) .* -c [^ ]*\/([^ /]+) .*/  \1 compiling \2/'
}

if [[ -f "$STAMP" && "$(head -n 1 "$STAMP")" == "$SIGNATURE" ]]; then
  step "reuse existing environment at .venv"
else
  step "check python (>= 3.10)"
  HOST_PY="${PYTHON:-python3}"
  "$HOST_PY" -c 'import sys; assert sys.version_info >= (3, 10), sys.version' \
    || { echo "[setup] Python >= 3.10 is required (found $("$HOST_PY" --version))" >&2; exit 1; }

  if [[ ! -x "$PY" ]]; then
    step "create virtual environment .venv"
    "$HOST_PY" -m venv "$VENV"
  fi
  mkdir -p "$LOG_DIR"

  step "install torch 2.13.0 + torchvision 0.28.0 from the package index"
  # A CPU-only local torch wheel (2.13.0+cpu) that some machines offer through
  # pip's configuration has no torchvision partner; keep such local folders out of
  # this one call so torch and torchvision come as a matching pair.
  if ! "$PY" -c 'import torch, torchvision, torchvision.ops; assert torch.__version__.startswith("2.13.0") and "+cpu" not in torch.__version__; assert torchvision.__version__.startswith("0.28.0")' 2>/dev/null; then
    env -u PIP_FIND_LINKS PIP_CONFIG_FILE=/dev/null "${PIP[@]}" install --progress-bar on \
      "${TORCH_PINS[@]}" 2>&1 | tee "$LOG_DIR/torch.log" | quiet_filter
    "$PY" -c 'import torch, torchvision.ops; print("[setup] torch", torch.__version__, "torchvision", torchvision.__version__)'
  fi

  step "install build tools (setuptools<81, wheel, ninja, numpy<2.4)"
  "${PIP[@]}" install -q "${BUILD_PINS[@]}" "${TORCH_PINS[@]}"

  step "install mmcv 2.1.0 with compiled ops (built from source when no wheel fits)"
  if ! "$PY" -c 'import mmcv, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; then
    export MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}"
    if command -v nvcc >/dev/null 2>&1 && command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
      echo "[setup] CUDA toolkit and GPU found: building mmcv with CUDA kernels"
      export FORCE_CUDA=1
    else
      echo "[setup] no GPU: building mmcv with CPU kernels"
    fi
    echo "[setup] the wheel is kept in pip's cache"
    build_mmcv "$MMCV_PIN" "${TORCH_PINS[@]}" "${BUILD_PINS[@]}"
  fi

  step "install mmengine, mmdet, mmsegmentation, mmpretrain and their undeclared needs"
  "${PIP[@]}" install --progress-bar on "${STACK_PINS[@]}" "$MMCV_PIN" "${TORCH_PINS[@]}" 2>&1 \
    | tee "$LOG_DIR/stack.log" | quiet_filter

  step "install mmdeploy 1.3.1 (without its protobuf<=3.20.2 pin) and what it imports"
  "${PIP[@]}" install -q --no-deps "$MMDEPLOY_PIN"
  "${PIP[@]}" install -q "${MMDEPLOY_NEEDS[@]}"

  step "install litv2_mm (editable)"
  "${PIP[@]}" install -q --no-deps --no-build-isolation -e "$REPO"
fi

step "check mmcv's compiled ops (on CUDA too where torch sees a GPU)"
# prints rebuild, mmcv_cuda=yes or mmcv_cuda=no (tools/check_mmcv_ops.py); fails naming an op
MMCV_STATUS="$("$PY" "$REPO/tools/check_mmcv_ops.py")"
if [[ "$MMCV_STATUS" == rebuild ]]; then
  step "rebuild mmcv 2.1.0 with CUDA ops (a GPU is visible, this mmcv was built without CUDA)"
  if ! "$PY" -c 'from torch.utils.cpp_extension import CUDA_HOME; assert CUDA_HOME' \
      2>/dev/null; then
    echo "[setup] no CUDA compiler: nvcc is not on PATH and CUDA_HOME is not set; load the CUDA" \
      "toolkit (e.g. module load cuda) and run this script again" >&2
    false
  fi
  mkdir -p "$LOG_DIR"
  # from source, not from a CPU-only wheel in pip's cache; mmcv alone, its needs are in place
  MMCV_WITH_OPS=1 FORCE_CUDA=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" build_mmcv \
    --no-cache-dir --no-binary mmcv --force-reinstall --no-deps "$MMCV_PIN"
  MMCV_STATUS="$("$PY" "$REPO/tools/check_mmcv_ops.py")"
  [[ "$MMCV_STATUS" == mmcv_cuda=yes ]] \
    || { echo "[setup] mmcv rebuilt with FORCE_CUDA=1 still has no CUDA ops" >&2; false; }
fi

step "import check of every package"
"$PY" - <<'PYEOF'
import importlib
import torch, torchvision
mods = ['mmengine', 'mmcv', 'mmcv.ops', 'mmdet', 'mmdet.models', 'mmseg', 'mmseg.models',
        'mmpretrain', 'mmpretrain.models', 'pycocotools.coco', 'pkg_resources', 'onnxruntime',
        'openvino', 'nncf', 'mmdeploy', 'mmdeploy.apis', 'litv2_mm']
versions = {}
for m in mods:
    mod = importlib.import_module(m)
    versions[m] = getattr(mod, '__version__', '')
print('[setup] torch', torch.__version__, '| torchvision', torchvision.__version__,
      '| cuda available', torch.cuda.is_available())
print('[setup] ' + ', '.join(f'{k} {v}' for k, v in versions.items() if v))
PYEOF

printf '%s\n%s\n' "$SIGNATURE" "$MMCV_STATUS" > "$STAMP"
echo "[setup] environment ready: $VENV"
