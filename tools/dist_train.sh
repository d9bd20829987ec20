#!/usr/bin/env bash
# Distributed training through torchrun (elastic) and mmengine's pytorch launcher.
#   bash tools/dist_train.sh CONFIG GPUS [train.py args...]
# Several nodes: NNODES=2 MASTER_ADDR=host0 PORT=29500 on every node (the rendezvous runs on
# MASTER_ADDR:PORT; RDZV_ID names the job, the same on every node).
# When a worker dies (out of memory, a lost node), torchrun restarts all workers, up to
# MAX_RESTARTS times (default 3), and they resume from the latest checkpoint in the work dir
# (LITv2Runner, under TORCHELASTIC_RESTART_COUNT > 0).
# Without GPUs add: --cfg-options env_cfg.dist_cfg.backend=gloo
# The restarted workers get a new TCPStore (TORCH_DISABLE_SHARE_RDZV_TCP_STORE=1): torchrun's
# agent otherwise shares one store with every restart of its workers, with no prefix per
# attempt, so restarted workers read the dead ones' NCCL ids / gloo addresses and hang or fail
# in init_process_group (pytorch/pytorch#135712). Set it too when you call torchrun yourself.
set -euo pipefail
CONFIG=$1
GPUS=$2
NNODES=${NNODES:-1}
PORT=${PORT:-29500}
MASTER_ADDR=${MASTER_ADDR:-"127.0.0.1"}
DIR="$(cd "$(dirname "$0")" && pwd)"
PYTHON=${PYTHON:-python}
[[ -x "$DIR/../.venv/bin/python" && "$PYTHON" == python ]] && PYTHON="$DIR/../.venv/bin/python"
export TORCH_DISABLE_SHARE_RDZV_TCP_STORE=${TORCH_DISABLE_SHARE_RDZV_TCP_STORE:-1}
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" \
exec "$PYTHON" -m torch.distributed.run \
    --nnodes="$NNODES" --nproc-per-node="$GPUS" --max-restarts="${MAX_RESTARTS:-3}" \
    --rdzv-backend=c10d --rdzv-endpoint="$MASTER_ADDR:$PORT" --rdzv-id="${RDZV_ID:-litv2}" \
    "$DIR/train.py" "$CONFIG" --launcher pytorch "${@:3}"
