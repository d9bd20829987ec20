#!/usr/bin/env bash
# Command one of the README: set up .venv if needed, generate the embedded COCO-format set,
# train Mask R-CNN with a LITv2-S backbone on it (configs/mask_rcnn/litv2_s_1x_synthetic.py,
# i.e. configs/mask_rcnn/litv2_s_1x.py with CPU / small-data overrides), and evaluate it with
# mmdet's CocoMetric (bbox and segm AP tables). Extra arguments go to tools/train.py.
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
import glob, json, os, sys
logs = sorted(glob.glob(os.path.join(sys.argv[1], '*', 'vis_data', 'scalars.json')))
final = [json.loads(line) for line in open(logs[-1]) if 'coco/bbox_mAP' in line][-1]
print('[demo] final evaluation: ' + ', '.join(
    f'{k.split("/")[1]} {v:.3f}' for k, v in final.items()
    if k in ('coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/segm_mAP', 'coco/segm_mAP_50')))
PYEOF
