#!/usr/bin/env bash
# GPU acceptance kit (issue 31; docs/speed.md, "GPU acceptance kit"): one command that checks
# on a GPU what the CPU tests cannot, and measures LITv2 at the paper's protocol.
#
#   bash tools/gpu_check.sh [--out DIR] [ARGS...]   # GPU: <= 5 min on one H100 / H200
#   bash tools/gpu_check.sh --detector [--out DIR]  # GPU: Mask R-CNN --amp, <= 8 min
#   bash tools/gpu_check.sh --cpu [--out DIR]       # the same checks, tiny, on this CPU
#
# The first form runs tools/analysis/gpu_check.py (ARGS go to it, e.g. --sections accuracy):
# accuracy of LITv2-S/M/B on CUDA against the CPU and under fp16 / bf16 autocast, a short
# training through mmengine's Runner with the project's hooks (exact resume, SIGTERM to the
# process group with 2 dataloader workers -> exit 75 and a checkpoint that resumes,
# deterministic mode), throughput and memory at batch 64, 224 x 224 in fp32 / TF32 / fp16 /
# bf16, eager and torch.compile, beside the authors' formulation and Swin-T. It writes
# DIR/report.json, DIR/report.md and DIR/gpu_check.log (DIR default work_dirs/gpu_check).
# Exit status 1 when a check failed.
#
# --detector builds mmcv 2.1.0's CUDA ops for the GPU's one architecture (or installs a
# CUDA build carried in .gpu_kit/built/), then trains Mask R-CNN LITv2-S
# (configs/mask_rcnn/litv2_s_1x_synthetic.py) for DETECTOR_ITERS (default 20) iterations
# with --amp on the embedded synthetic COCO set, evaluates it (bbox and segm mAP), evaluates
# the checkpoint again with tools/test.py --amp, and writes DIR/detector_report.{json,md}.
# A wheel it built is copied to DIR in parts of 15 MiB (mmcv-*.whl.part-aa, -ab...): `cat`
# them into .gpu_kit/built/<the wheel's name> here and later runs skip the build.
#
# --cpu runs the same checks with tiny sizes on the CPU with the repo's .venv (what needs
# CUDA is reported 'skipped: needs CUDA'); tests/tools/test_gpu_check.py runs it.
#
# On the borrowed GPU machine (torch 2.11, CUDA 13, no network, no mmengine / mmcv / mmdet),
# first, here, on a machine that reaches the package index:
#   bash tools/gpu_kit/download.sh [--detector]      # wheels into .gpu_kit/ (git-ignored)
# then the device tool, carrying .gpu_kit (the repo travels with it):
#   run(command="bash tools/gpu_check.sh --out $OUT", carry=[".gpu_kit"], timeout_s=420)
#   run(command="bash tools/gpu_check.sh --detector --out $OUT", carry=[".gpu_kit"],
#       timeout_s=540)
# There the carried wheels are installed with `pip --no-index --no-deps --target` into
# /tmp/litv2_gpu_kit_site (nothing is downloaded) and the image's python3 runs the checks.
# Where no .gpu_kit/wheels exist but a .venv does (a GPU node set up by tools/setup_env.sh),
# the .venv's python runs them. GPU_KIT and GPU_KIT_SITE move those two folders.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
KIT="${GPU_KIT:-.gpu_kit}"  # the carried folder (tools/gpu_kit/download.sh)
SITE="${GPU_KIT_SITE:-/tmp/litv2_gpu_kit_site}"  # where its wheels are installed
MODE=gpu
OUT=work_dirs/gpu_check
ARGS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cpu) MODE=cpu ;;
    --detector) MODE=detector ;;
    --out) [[ $# -ge 2 ]] || { echo "gpu_check.sh: --out needs a folder" >&2; exit 2; }
           OUT="$2"; shift ;;
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1' "$0"; exit 0 ;;
    *) ARGS+=("$1") ;;
  esac
  shift
done
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"

die() { echo "[gpu_check] error: $*" >&2; exit 1; }
say() { echo "[gpu_check] $*"; }

install_carried() {  # WHEEL...: into $SITE, which goes first on the import path
  say "installing ${#@} carried wheels into $SITE (no index, no dependencies)"
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target "$SITE" "$@"
  export PYTHONPATH="$SITE:$REPO${PYTHONPATH:+:$PYTHONPATH}"
}

built_mmcv() {  # a CUDA build of mmcv 2.1.0 carried or built before, if any
  compgen -G "$KIT/built/mmcv-2.1.0-*.whl" | head -n 1 || true
}

setup_python() {  # sets PY
  if [[ $MODE == cpu ]]; then
    [[ -x .venv/bin/python ]] || die ".venv/bin/python not found: run bash tools/setup_env.sh"
    PY=.venv/bin/python
    export CUDA_VISIBLE_DEVICES=
    return
  fi
  if compgen -G "$KIT/wheels/*.whl" >/dev/null; then
    PY=python3
    local wheels=() mmcv
    mmcv="$(built_mmcv)"
    for w in "$KIT"/wheels/*.whl; do  # mmcv-lite gives way to a carried CUDA build of mmcv
      [[ -n $mmcv || $MODE == detector ]] && [[ $(basename "$w") == mmcv_lite-* ]] && continue
      wheels+=("$w")
    done
    [[ -n $mmcv && $MODE == gpu ]] && wheels+=("$mmcv")
    if [[ $MODE == detector ]]; then
      compgen -G "$KIT/detector/*.whl" >/dev/null \
        || die "no $KIT/detector/*.whl: run bash tools/gpu_kit/download.sh --detector here first"
      wheels+=("$KIT"/detector/*.whl)
    fi
    install_carried "${wheels[@]}"
  elif [[ -x .venv/bin/python ]]; then
    PY=.venv/bin/python
  else
    die "no carried wheels in $KIT/wheels and no .venv: run bash tools/gpu_kit/download.sh" \
        "on a machine that reaches the package index and carry $KIT (see this script's header)"
  fi
  local rc=0
  "$PY" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 3)' || rc=$?
  case $rc in
    0) ;;
    3) die "torch sees no CUDA device here: use --cpu for the CPU run" ;;
    *) die "$PY cannot import torch (exit status $rc)" ;;
  esac
}

build_mmcv() {  # mmcv 2.1.0 with CUDA ops for this GPU's architecture -> $KIT/built
  local src="$KIT/detector/mmcv-2.1.0.tar.gz" arch start wheel
  [[ -f $src ]] || die "no $src: run bash tools/gpu_kit/download.sh --detector here first"
  arch="$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')"
  say "building mmcv 2.1.0's ops for sm_${arch/./} (TORCH_CUDA_ARCH_LIST=$arch, $(nproc) jobs)"
  start=$(date +%s)
  MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$arch" MAX_JOBS="$(nproc)" \
    "$PY" -m pip wheel -q --no-deps --no-build-isolation --no-index -w "$KIT/built" "$src"
  wheel="$(built_mmcv)"
  [[ -n $wheel ]] || die "the mmcv build wrote no $KIT/built/mmcv-2.1.0-*.whl"
  say "built $(basename "$wheel") in $(( $(date +%s) - start )) s"
  split -b 15M "$wheel" "$OUT/$(basename "$wheel").part-"
  wheel="$(basename "$wheel")"
  say "copied to $OUT in parts; on your machine: cat $wheel.part-* > $KIT/built/$wheel"
}

detector() {
  local config=configs/mask_rcnn/litv2_s_1x_synthetic.py iters="${DETECTOR_ITERS:-20}"
  local work=/tmp/litv2_gpu_kit_detector  # outside OUT: only a few files come back from there
  rm -rf "$work"
  if [[ $PY == python3 ]]; then  # carried wheels; a .venv has its CUDA mmcv from setup_env.sh
    [[ -n "$(built_mmcv)" ]] || build_mmcv
    install_carried "$(built_mmcv)"
  fi
  say "mmcv's ops (nms, roi_align, deform_conv2d) on CPU and CUDA against torchvision"
  "$PY" tools/check_mmcv_ops.py
  "$PY" tools/data/make_synthetic_data.py --which coco
  say "training $config for $iters iterations with --amp, then evaluating it"
  "$PY" tools/train.py "$config" --amp --work-dir "$work" --cfg-options \
    train_cfg.max_iters="$iters" train_cfg.val_interval="$iters" \
    default_hooks.checkpoint.interval="$iters" default_hooks.visualization.draw=False
  "$PY" tools/test.py "$config" "$work/iter_$iters.pth" --amp --work-dir "$work/test" \
    2>&1 | tee "$work/test_amp.log"
  "$PY" tools/analysis/gpu_check.py --detector-summary "$work" --test-log "$work/test_amp.log" \
    --out "$OUT"
}

main() {
  local start=$SECONDS
  setup_python
  say "python: $PY ($("$PY" -c 'import torch; print("torch", torch.__version__)'))"
  case $MODE in
    detector) detector ;;
    cpu) "$PY" tools/analysis/gpu_check.py --device cpu --out "$OUT" ${ARGS[@]+"${ARGS[@]}"} ;;
    gpu) "$PY" tools/analysis/gpu_check.py --device cuda --out "$OUT" ${ARGS[@]+"${ARGS[@]}"} ;;
  esac
  say "finished in $(( SECONDS - start )) s; report in $OUT"
}

main 2>&1 | tee "$OUT/gpu_check.log"
