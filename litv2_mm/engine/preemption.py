"""Preemption-safe training: a stop signal (slurm, Kubernetes, torchrun) ends the run after
the iteration in flight with a checkpoint of that iteration, on every rank at the same one.

slurm sends SIGTERM before it kills a job (and SIGUSR1 ``--signal`` seconds before its time
limit, as ``tools/slurm_train.sh`` asks), Kubernetes and torchrun's agent send SIGTERM.
mmengine leaves these signals to their default action (the process dies at once), so
everything since the last periodic checkpoint is lost.

These signals reach every process of the job, the dataloader workers included: torchrun's
agent stops a worker with ``os.killpg`` (each worker leads a process group of its own, with
its dataloader workers in it), slurm signals every process of a step, Kubernetes every
process of the container. A dataloader worker that dies of one makes the main process raise
``DataLoader worker (pid N) is killed by signal`` in the middle of the iteration, so the
workers leave them to the main process (:class:`StopSignalsToMainProcess`).
"""
import os
import os.path as osp
import signal
import threading
from types import FrameType
from typing import Callable, Iterable, NoReturn, Optional, Sequence

import torch
from mmengine.dist import all_reduce, barrier, get_world_size, is_main_process
from mmengine.fileio import get_file_backend
from mmengine.hooks import Hook
from mmengine.registry import HOOKS
from mmengine.runner import Runner
from mmengine.runner.base_loop import BaseLoop

PREEMPTED_EXIT_STATUS = 75
"""The exit status of a run stopped by a signal after writing its checkpoint: ``EX_TEMPFAIL``
of ``sysexits.h`` ("temporary failure, retry"); ``--resume`` continues it. ``tools/
slurm_train.sh`` requeues its job on this status."""

STOP_SIGNALS = ('SIGTERM', 'SIGUSR1')
PREEMPTED_MARKER = 'preempted'
"""The file a run stopped by a signal writes in its work dir after its checkpoint (the
checkpoint's path): ``tools/slurm_train.sh`` requeues the job when it is there, whatever
status srun reports for the job's other tasks."""


def clear_marker(work_dir: str, name: str) -> None:
    """Remove the marker ``name`` (:data:`PREEMPTED_MARKER`, ``DIVERGED_MARKER``) that an
    earlier stop of the run in ``work_dir`` left, on rank 0, as this run starts."""
    marker = osp.join(work_dir, name)
    if is_main_process() and osp.exists(marker):
        os.remove(marker)


def _leave_signals_to_parent(signums: Iterable[int]) -> None:
    """In a dataloader worker: ``signums`` sent by anyone but the worker's parent are
    ignored; a SIGTERM from the parent (the DataLoader ending a worker that did not stop in
    time) ends the worker as torch's own handler does. The signals are blocked and a daemon
    thread takes them with ``sigwaitinfo``, which tells who sent them."""
    parent = os.getppid()

    def wait() -> NoReturn:
        while True:
            info = signal.sigwaitinfo(signums)
            if info.si_signo == signal.SIGTERM and info.si_pid == parent:
                os._exit(0)

    signal.pthread_sigmask(signal.SIG_BLOCK, signums)
    threading.Thread(target=wait, name='stop-signals', daemon=True).start()


class StopSignalsToMainProcess:
    """A DataLoader ``worker_init_fn`` that makes the worker leave the stop signals to the
    main process (which finishes the iteration and writes a checkpoint), then calls the
    DataLoader's own ``worker_init_fn`` (mmengine's seeding).

    torch's worker loop installs a SIGTERM handler that re-raises a SIGTERM not sent by the
    worker's parent (``torch/utils/data/_utils/worker.py``, ``DataLoader.cpp``), and a
    SIGUSR1 ends a worker by default. The worker ends when the main process tells it (its
    DataLoader shuts it down, or SIGTERMs it) or dies (torch's watchdog in the worker)."""

    def __init__(self, signums: Sequence[int],
                 worker_init_fn: Optional[Callable[[int], None]] = None) -> None:
        self.signums = set(signums)
        self.worker_init_fn = worker_init_fn

    def __call__(self, worker_id: int) -> None:
        _leave_signals_to_parent(self.signums)
        if self.worker_init_fn is not None:
            self.worker_init_fn(worker_id)


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On a stop signal (``signals``, default SIGTERM and SIGUSR1) the run finishes the
    iteration in flight, writes a checkpoint of that iteration (``iter_N.pth`` in the work
    dir, through the CheckpointHook's file backend: atomic with ``atomic_local``), points
    ``last_checkpoint`` at it (``--resume`` without a path finds it), logs where, and exits
    with :data:`PREEMPTED_EXIT_STATUS` (75).

    In a distributed run the ranks agree after every iteration (one all-reduce of a flag),
    so a signal that reaches one rank stops all of them at the same iteration; rank 0 writes
    the checkpoint and ``work_dir/preempted`` (:data:`PREEMPTED_MARKER`) and every rank waits
    for them before exiting. The handler is installed in ``before_run`` (the main thread)
    and the previous handlers are restored after training. The train, val and test
    dataloaders' workers leave the signals to the main process
    (:class:`StopSignalsToMainProcess`, set up before each loop starts its workers), so a
    signal sent to the whole process group, as torchrun, slurm and Kubernetes send it, does
    not kill them mid-iteration. Priority LOWEST: every other ``after_train_iter`` (the loss
    check, the periodic checkpoint) has run when it stops the run.

    Args:
        signals (Sequence[str]): names of the signals that stop the run.
        exit_status (int): the exit status after the checkpoint is written.
    """

    priority = 'LOWEST'

    def __init__(self, signals: Sequence[str] = STOP_SIGNALS,
                 exit_status: int = PREEMPTED_EXIT_STATUS) -> None:
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

    def _handle(self, signum: int, frame: Optional[FrameType]) -> None:
        # Only sets a flag: the run stops where the iteration ends (logging here could
        # deadlock on the logging lock the interrupted code holds).
        if self.received is None:
            self.received = signum

    def before_run(self, runner: Runner) -> None:
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, so no signal '
                                  'handler is installed; a stop signal ends the run at once')
            return
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._handle)
        clear_marker(runner.work_dir, PREEMPTED_MARKER)  # from the stop this run resumes

    def _to_main_process(self, loop: Optional[BaseLoop]) -> None:
        dataloader = getattr(loop, 'dataloader', None)
        init = getattr(dataloader, 'worker_init_fn', None)
        if getattr(dataloader, 'num_workers', 0) and not isinstance(init,
                                                                    StopSignalsToMainProcess):
            dataloader.worker_init_fn = StopSignalsToMainProcess(self.signals, init)

    def before_train(self, runner: Runner) -> None:
        self._to_main_process(runner.train_loop)

    def before_val(self, runner: Runner) -> None:
        self._to_main_process(runner.val_loop)

    def before_test(self, runner: Runner) -> None:
        self._to_main_process(runner.test_loop)

    def after_run(self, runner: Runner) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}

    def _stop_requested(self) -> int:
        """Whether any rank received a stop signal (one all-reduce in a distributed run)."""
        received = self.received or 0
        if get_world_size() > 1:
            flag = torch.tensor([received], dtype=torch.int64)
            all_reduce(flag, op='max')
            received = int(flag.item())
        return received

    def after_train_iter(self, runner: Runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
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
    def _save(runner: Runner) -> str:
        """Write ``iter_N.pth`` (unless the CheckpointHook just wrote it), then
        ``last_checkpoint`` and :data:`PREEMPTED_MARKER`, with the CheckpointHook's backend;
        returns the path."""
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
            work_dir = get_file_backend(runner.work_dir, backend_args=backend_args)
            work_dir.put_text(path, osp.join(runner.work_dir, 'last_checkpoint'))
            work_dir.put_text(path, osp.join(runner.work_dir, PREEMPTED_MARKER))
        return path


def elastic_restart_count() -> int:
    """How many times torchrun's elastic agent has restarted this worker (0 outside
    torchrun)."""
    return int(os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') or 0)
