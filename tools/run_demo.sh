#!/usr/bin/env bash
# Command one of the README: set up .venv if needed, generate the embedded COCO-format set,
# train Mask R-CNN with a LITv2-S backbone on it (configs/mask_rcnn/litv2_s_1x_synthetic.py,
# i.e. configs/mask_rcnn/litv2_s_1x.py with CPU / small-data overrides), and evaluate it with
# mmdet's CocoMetric (bbox and segm AP tables) half-way and at the end; then show where the
# pictures of its predictions (mmdet's visualizer) and the plot of the training loss and
# mAP are. Extra arguments go to tools/train.py.
set -euo pipefail
REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO"
bash tools/setup_env.sh
PY=.venv/bin/python
CONFIG=configs/mask_rcnn/litv2_s_1x_synthetic.py
WORK_DIR=work_dirs/demo_mask_rcnn_litv2_s

echo "[demo] >>> embedded COCO-format data (data/generated/coco)"
$PY tools/data/make_synthetic_data.py --which coco
echo "[demo] >>> train + evaluate $CONFIG (work dir $WORK_DIR)"
start=$(date +%s)
$PY tools/train.py "$CONFIG" --work-dir "$WORK_DIR" \
  --cfg-options val_evaluator.classwise=True test_evaluator.classwise=True "$@"
echo "[demo] finished in $(( ($(date +%s) - start) / 60 )) min $(( ($(date +%s) - start) % 60 )) s"
$PY - "$WORK_DIR" <<'PYEOF'
import glob, os, sys
sys.path.insert(0, 'tools/analysis')
from plot_training import find_scalars, read_scalars
scalars = find_scalars(sys.argv[1])
keys = ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50')
evals = read_scalars(scalars, keys)[1]
print('[demo] final evaluation: ' + ', '.join(
    f'{k.split("/")[1]} {points[-1][1]:.3f}' for k, points in evals.items()))
run = os.path.dirname(os.path.dirname(scalars))
pictures = sorted(glob.glob(os.path.join(run, 'vis_data', 'vis_image', '*.png')))
print(f'[demo] {len(pictures)} pictures of predictions (boxes and masks) on validation '
      f'images: {os.path.join(run, "vis_data", "vis_image")}/')
PYEOF
$PY tools/analysis/plot_training.py "$WORK_DIR" | sed 's/^/[demo] /'
