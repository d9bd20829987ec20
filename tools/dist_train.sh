#!/usr/bin/env bash
# Distributed training through torchrun and mmengine's pytorch launcher.
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
# Several nodes: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 PORT=29500 on every node.
# Without GPUs add: --cfg-options env_cfg.dist_cfg.backend=gloo
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-python}
[[ -x "$DIR/../.venv/bin/python" && "$PYTHON" == python ]] && PYTHON="$DIR/../.venv/bin/python"
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --node_rank="$NODE_RANK" --master_addr="$MASTER_ADDR" \
    --nproc_per_node="$GPUS" --master_port="$PORT" \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
