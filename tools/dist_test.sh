#!/usr/bin/env bash
# Distributed testing through torchrun and mmengine's pytorch launcher.
#   bash tools/dist_test.sh CONFIG CHECKPOINT GPUS [test.py args...]
# Several nodes: NNODES=2 NODE_RANK=0|1 MASTER_ADDR=host0 PORT=29500 on every node.
# Without GPUs add: --cfg-options env_cfg.dist_cfg.backend=gloo
set -euo pipefail
CONFIG=$1
CHECKPOINT=$2
GPUS=$3
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
    "$DIR/test.py" "$CONFIG" "$CHECKPOINT" --launcher pytorch "${@:4}"
