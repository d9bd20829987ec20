"""Preemption-safe training: a stop signal (slurm, Kubernetes, torchrun) ends the run after
the iteration in flight with a checkpoint of that iteration, on every rank at the same one.

slurm sends SIGTERM before it kills a job (and SIGUSR1 ``--signal`` seconds before its time
limit, as ``tools/slurm_train.sh`` asks), Kubernetes and torchrun's agent send SIGTERM.
mmengine leaves these signals to their default action (the process dies at once), so
everything since the last periodic checkpoint is lost.
"""
import os
import os.path as osp
import signal
import threading

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

PREEMPTED_EXIT_STATUS = 75
"""The exit status of a run stopped by a signal after writing its checkpoint: ``EX_TEMPFAIL``
of ``sysexits.h`` ("temporary failure, retry"); ``--resume`` continues it. ``tools/
slurm_train.sh`` requeues its job on this status."""

STOP_SIGNALS = ('SIGTERM', 'SIGUSR1')


def latest_checkpoint(work_dir):
    """The checkpoint ``work_dir/last_checkpoint`` names (what ``--resume`` without a path
    resumes), or None."""
    path = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(path):
        return None
    with open(path) as f:
        return f.read().strip() or None


def resume_latest(cfg):
    """``--resume`` without a path, for a run that may or may not have started before
    (a requeued slurm job, a restarted torchrun worker): resume from the latest checkpoint
    in ``cfg.work_dir`` if there is one (``cfg.resume=True``, ``cfg.load_from=None``), else
    start as configured (``cfg.resume=False``, ``load_from`` kept, e.g. the weights a
    fine-tuning starts from). In place; returns the checkpoint or None."""
    found = latest_checkpoint(cfg.work_dir)
    if found:
        cfg.resume, cfg.load_from = True, None
    else:
        cfg.resume = False
    return found


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On a stop signal (``signals``, default SIGTERM and SIGUSR1) the run finishes the
    iteration in flight, writes a checkpoint of that iteration (``iter_N.pth`` in the work
    dir, through the CheckpointHook's file backend: atomic with ``atomic_local``), points
    ``last_checkpoint`` at it (``--resume`` without a path finds it), logs where, and exits
    with :data:`PREEMPTED_EXIT_STATUS` (75).

    In a distributed run the ranks agree after every iteration (one all-reduce of a flag),
    so a signal that reaches one rank stops all of them at the same iteration; rank 0 writes
    the checkpoint and every rank waits for it before exiting. The handler is installed in
    ``before_run`` (the main thread; dataloader workers forked later inherit it, so a signal
    sent to the whole process group does not kill them mid-iteration) and the previous
    handlers are restored after training. Priority LOWEST: every other ``after_train_iter``
    (the loss check, the periodic checkpoint) has run when it stops the run.

    Args:
        signals (Sequence[str]): names of the signals that stop the run.
        exit_status (int): the exit status after the checkpoint is written.
    """

    priority = 'LOWEST'

    def __init__(self, signals=STOP_SIGNALS, exit_status=PREEMPTED_EXIT_STATUS):
        unknown = [name for name in signals if not isinstance(getattr(signal, str(name), None),
                                                              signal.Signals)]
        if unknown:
            raise ValueError(f'PreemptionHook signals: unknown signal names {unknown}; use names '
                             f'like {list(STOP_SIGNALS)}')
        if not isinstance(exit_status, int) or not 0 < exit_status < 256:
            raise ValueError(f'PreemptionHook exit_status must be an int in 1..255, got '
                             f'{exit_status!r}')
        self.signals = [getattr(signal, name) for name in signals]
        self.exit_status = exit_status
        self.received = None  # the number of the first stop signal received
        self._previous = {}

    def _handle(self, signum, frame):
        # Only sets a flag: the run stops where the iteration ends (logging here could
        # deadlock on the logging lock the interrupted code holds).
        if self.received is None:
            self.received = signum

    def before_run(self, runner):
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, so no signal '
                                  'handler is installed; a stop signal ends the run at once')
            return
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)

    def after_run(self, runner):
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _stop_requested(self):
        """Whether any rank received a stop signal (one all-reduce in a distributed run)."""
        received = self.received or 0
        if get_world_size() > 1:
            flag = torch.tensor([received], dtype=torch.int64)
            all_reduce(flag, op='max')
            received = int(flag.item())
        return received

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        received = self._stop_requested()
        if not received:
            return
        iteration = runner.iter + 1
        path = self._save(runner)
        barrier()  # the checkpoint is whole before any rank exits
        name = signal.Signals(received).name
        runner.logger.warning(
            f'{name} received: stopped after iteration {iteration} (epoch {runner.epoch + 1}) '
            f'and saved {path}; exiting with status {self.exit_status}. Continue with '
            '--resume (no path: the latest checkpoint in the work dir).')
        self.after_run(runner)
        raise SystemExit(self.exit_status)

    @staticmethod
    def _save(runner):
        """Write ``iter_N.pth`` (unless the CheckpointHook just wrote it) and
        ``last_checkpoint``, with the CheckpointHook's backend; returns the path."""
        ckpt_hook = next((h for h in runner.hooks if type(h).__name__ == 'CheckpointHook'), None)
        backend_args = getattr(ckpt_hook, 'backend_args', None)
        out_dir = getattr(ckpt_hook, 'out_dir', None) or runner.work_dir
        backend = get_file_backend(out_dir, backend_args=backend_args)
        filename = f'iter_{runner.iter + 1}.pth'
        path = backend.join_path(out_dir, filename)
        if runner.message_hub.get_info('last_ckpt') != path:
            runner.save_checkpoint(out_dir, filename, by_epoch=False, backend_args=backend_args)
            runner.message_hub.update_info('last_ckpt', path)
        if is_main_process():
            get_file_backend(runner.work_dir, backend_args=backend_args).put_text(
                path, osp.join(runner.work_dir, 'last_checkpoint'))
        return path


def elastic_restart_count():
    """How many times torchrun's elastic agent has restarted this worker (0 outside
    torchrun)."""
    return int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') or 0)
