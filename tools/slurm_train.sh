#!/usr/bin/env bash
# Training on a slurm cluster through mmengine's slurm launcher, preemption-safe.
#   GPUS=16 bash tools/slurm_train.sh PARTITION JOB_NAME CONFIG WORK_DIR [train.py args...]
# Submits a batch job (sbatch) that slurm may requeue (--requeue) and that gets SIGUSR1
# SIGNAL_TIME seconds (default 300) before its time limit (--signal). On SIGUSR1 or SIGTERM
# (a preemption) train.py finishes the iteration in flight, writes a checkpoint of it and the
# marker WORK_DIR/preempted, and exits with status 75; the job then requeues itself, and every
# start of the job resumes from the latest checkpoint in WORK_DIR (--resume without a path;
# the first start trains from the beginning). The requeue follows the marker, not srun's
# status: with --kill-on-bad-exit, the first task that exits 75 makes srun end the others,
# and srun may report one of those (137, 143). Prints the job id; the log is
# WORK_DIR/slurm-JOBID.out.
# Environment: GPUS, GPUS_PER_NODE, CPUS_PER_TASK, SIGNAL_TIME, TIME (--time), SBATCH_ARGS,
# SRUN_ARGS, PYTHON.
set -euo pipefail
PARTITION=$1
JOB_NAME=$2
CONFIG=$3
WORK_DIR=$4
PREEMPTED=75  # litv2_mm.engine.PREEMPTED_EXIT_STATUS
MARKER="$WORK_DIR/preempted"  # litv2_mm.engine.PREEMPTED_MARKER
DIR=${LITV2_TOOLS:-"$(cd "$(dirname "$0")" && pwd)"}
PYTHON=${PYTHON:-python}

if [[ -z "${SLURM_JOB_ID:-}" ]]; then  # on the login node: submit this script as the job
    GPUS=${GPUS:-8}
    GPUS_PER_NODE=${GPUS_PER_NODE:-8}
    mkdir -p "$WORK_DIR"
    # shellcheck disable=SC2086  # SBATCH_ARGS holds several options
    exec sbatch --partition="$PARTITION" --job-name="$JOB_NAME" \
        --ntasks="$GPUS" --ntasks-per-node="$GPUS_PER_NODE" --gres=gpu:"$GPUS_PER_NODE" \
        --cpus-per-task="${CPUS_PER_TASK:-5}" ${TIME:+--time="$TIME"} \
        --requeue --signal=USR1@"${SIGNAL_TIME:-300}" --open-mode=append \
        --output="$WORK_DIR/slurm-%j.out" --export=ALL,LITV2_TOOLS="$DIR" ${SBATCH_ARGS:-} \
        "$DIR/slurm_train.sh" "$@"
fi

# in the job (each start, the requeued ones too): one task per GPU
rm -f "$MARKER"
set +e
# shellcheck disable=SC2086  # SRUN_ARGS holds several options
PYTHONPATH="$DIR/..:${PYTHONPATH:-}" srun --kill-on-bad-exit=1 ${SRUN_ARGS:-} \
    "$PYTHON" -u "$DIR/train.py" "$CONFIG" --work-dir="$WORK_DIR" --launcher slurm --resume \
    "${@:5}"
status=$?
set -e
if [[ -f "$MARKER" ]]; then
    echo "slurm_train.sh: stopped by a signal after a checkpoint ($(cat "$MARKER"); srun" \
        "status $status): requeueing job $SLURM_JOB_ID"
    scontrol requeue "$SLURM_JOB_ID" || echo "slurm_train.sh: cannot requeue (not a batch" \
        "job?): run this script again to resume"
    exit $PREEMPTED
fi
exit $status
