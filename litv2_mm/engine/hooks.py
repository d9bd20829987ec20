"""Hooks every LITv2 config declares (``configs/_base_/litv2_runtime.py``).

* :class:`ExactResumeHook`: a resumed run continues exactly like the uninterrupted one.
* :class:`CheckpointFitHook`: a checkpoint whose tensors do not fit the model fails
  before any training or evaluation, naming every key that does not fit.
* :class:`FiniteLossHook`: a non-finite loss stops the run, named, before a checkpoint of the
  diverged weights is written.
"""
import math
import os.path as osp
from typing import Optional

import torch
from mmengine.dist import all_gather_object, all_reduce, get_rank, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS
from mmengine.runner import Runner, find_latest_checkpoint

from ..checkpoint import check_state_dict_fits
from .mmengine_internals import runner_resumes
from .preemption import clear_marker
from .random_states import get_rng_states, set_rng_states


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Save the random states with every checkpoint and, after ``--resume``, restore them
    right before the first batch of the resumed run is loaded, where the uninterrupted run
    had them. (mmengine restores the seed, not the states.)

    * That moment is ``before_train_epoch``: an epoch-based loop loads the epoch's data after
      it, and our loops position their samplers and start their dataloaders after it without
      drawing random numbers. (mmengine's own ``IterBasedTrainLoop`` loads every trained
      batch again after it: not exact.)
    * The states are the main process's (the model's dropout and drop path, the sampler);
      the dataloader workers' augmentations are seeded per sample
      (:func:`~litv2_mm.engine.seed_every_sample`), so they need no state.
    * In a distributed run every rank's states are saved (their augmentations draw different
      amounts) and each rank gets its own back. They are gathered when a checkpoint is
      written and never in between (:meth:`gather_rank_states`, called on every rank by
      :class:`~litv2_mm.engine.LITv2Runner`, as mmengine calls ``before_save_checkpoint``
      on rank 0 alone). Resumed with another number of ranks,
      every rank gets rank 0's (with a warning).
    * The states hold no tensors (:func:`~litv2_mm.engine.random_states.get_rng_states`): a
      checkpoint read
      back to a GPU (mmengine resumes with ``map_location=get_device()``) restores them as
      they were, and each rank's CUDA state goes to the device the rank uses.
    * Validation leaves the random states as it found them (a dataloader draws a seed when
      it starts), so a run resumed after the checkpoint of an iteration that was followed by
      a validation draws what the uninterrupted run drew.

    Hooks of priority BELOW_NORMAL and higher run their ``before_train_epoch`` before the
    states are restored, as they ran before the checkpoint was written in the uninterrupted
    run; the lower ones (the checkpoint and preemption hooks) draw no random numbers there.
    """

    priority = 'LOW'

    def __init__(self) -> None:
        self._pending: Optional[dict] = None
        self._before_val: Optional[dict] = None
        self._rank_states: Optional[list] = None

    def gather_rank_states(self) -> None:
        """Gather every rank's random states for the checkpoint about to be written: a
        collective, called on every rank by :meth:`LITv2Runner.save_checkpoint` (with another
        runner, rank 0 saves its own states only and the others resume with them)."""
        if get_world_size() > 1:
            self._rank_states = all_gather_object(get_rng_states())

    def before_val(self, runner: Runner) -> None:
        self._before_val = get_rng_states()

    def after_val(self, runner: Runner) -> None:
        if self._before_val is not None:
            set_rng_states(self._before_val)
            self._before_val = None

    def before_save_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        # rank 0 only (mmengine's save_checkpoint is master_only)
        checkpoint['rng_states'] = self._rank_states or [get_rng_states()]
        self._rank_states = None

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        states = checkpoint.get('rng_states')
        if not runner_resumes(runner) or states is None:
            return
        if isinstance(states, dict):  # one process's states (earlier litv2_mm checkpoints)
            states = [states]
        if len(states) != get_world_size():
            runner.logger.warning(f'the checkpoint holds the random states of {len(states)} '
                                  f'ranks, this run has {get_world_size()}: every rank '
                                  "resumes with rank 0's")
        self._pending = states[get_rank()] if len(states) == get_world_size() else states[0]

    def before_train_epoch(self, runner: Runner) -> None:
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None


def loaded_checkpoint(runner: Runner) -> Optional[str]:
    """The checkpoint mmengine's ``Runner.load_or_resume`` loads: ``load_from``, else, when
    resuming, the latest one of the work dir (``find_latest_checkpoint``)."""
    return runner.cfg.get('load_from') or (
        find_latest_checkpoint(runner.work_dir) if runner.cfg.get('resume') else None)


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check every checkpoint the runner loads (``load_from``, ``--resume``, ``tools/test.py``)
    against the model before it is used: see :func:`~litv2_mm.checkpoint.check_state_dict_fits`.

    Args:
        allow_partial (bool): load only the tensors that fit, with a warning listing the others,
            instead of failing (fine-tuning from another head on purpose). Default False;
            ``--allow-partial-load`` of litv2_mm's tools sets it.
    """

    priority = 'VERY_HIGH'

    def __init__(self, allow_partial: bool = False) -> None:
        if not isinstance(allow_partial, bool):
            raise TypeError(f'CheckpointFitHook: allow_partial must be True or False, '
                            f'got {allow_partial!r}')
        self.allow_partial = allow_partial

    def after_load_checkpoint(self, runner: Runner, checkpoint: dict) -> None:
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        source = loaded_checkpoint(runner)
        check_state_dict_fits(model, checkpoint, f'checkpoint {source or ""}'.strip(),
                              allow_partial=self.allow_partial, logger=runner.logger)


NONFINITE_ACTIONS = ('error', 'warn')
DIVERGED_MARKER = 'diverged'
"""The file a run stopped by :class:`FiniteLossHook` writes in its work dir (the error): a
worker that torchrun's elastic agent restarts finds it and stops at once instead of
replaying the divergence from the last checkpoint (:class:`~litv2_mm.engine.LITv2Runner`)."""


def _nonfinite_weights(model: torch.nn.Module) -> int:
    """How many of the model's floating-point parameters and buffers hold a NaN or an
    infinity (one max-abs pass with torch's foreach kernels, one host sync)."""
    tensors = [t.detach() for t in (*model.parameters(), *model.buffers())
               if t.is_floating_point()]
    if not tensors:
        return 0
    peaks = torch._foreach_norm(tensors, math.inf)  # max |x|, NaN where a NaN is
    return int((~torch.isfinite(torch.stack(peaks))).sum())


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop the run at the first iteration whose loss (the total or any term) is NaN or
    infinite on any rank, or whose step left a NaN or an infinity in the weights (a finite
    loss with a non-finite gradient), before that iteration's checkpoint is written (this
    hook runs before mmengine's ``CheckpointHook`` and the ``PreemptionHook``): no checkpoint
    with a non-finite tensor is written or named, the last good one stays the one to resume.

    * Every rank stops at the same iteration: the ranks' findings are all-reduced every
      iteration (one small all-reduce), as mmengine does not reduce the logged losses; a
      rank alone raising would leave the others waiting in the next collective.
    * The error (a ``FloatingPointError``) names the iteration, the ranks, the terms that are
      not finite, the learning rate and what to try. Rank 0 writes it to
      ``work_dir/diverged`` (:data:`DIVERGED_MARKER`), so an elastic restart does not replay
      the divergence; the next start of the run by hand (``--resume``) removes it.
    * An iteration whose step the fp16 loss scaler skipped (its scale went down) is only
      logged: that is how dynamic loss scaling handles an overflow.

    Args:
        on_nonfinite (str): ``'error'`` (default): stop as above; ``'warn'``: log and go on.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self, on_nonfinite: str = 'error') -> None:
        if on_nonfinite not in NONFINITE_ACTIONS:
            raise ValueError(f'FiniteLossHook: on_nonfinite must be one of {NONFINITE_ACTIONS}, '
                             f'got {on_nonfinite!r}')
        self.on_nonfinite = on_nonfinite
        self._scale: Optional[float] = None

    def before_run(self, runner: Runner) -> None:
        clear_marker(runner.work_dir, DIVERGED_MARKER)  # the user starts again on purpose

    def before_train_iter(self, runner: Runner, batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        self._scale = self._loss_scale(runner)

    @staticmethod
    def _loss_scale(runner: Runner) -> Optional[float]:
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        return scaler.get_scale() if scaler is not None and scaler.is_enabled() else None

    @staticmethod
    def _ranks_with(flags: tuple[bool, bool]) -> tuple[list[int], list[int]]:
        """The ranks whose flag (loss, weights) is set, from every rank's flags: one
        all-reduce of a (world size, 2) tensor."""
        table = torch.zeros(get_world_size(), 2, dtype=torch.int64)
        table[get_rank()] = torch.tensor(flags, dtype=torch.int64)
        if get_world_size() > 1:
            all_reduce(table)
        return [r for r in range(len(table)) if table[r, 0]], \
            [r for r in range(len(table)) if table[r, 1]]

    def after_train_iter(self, runner: Runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        losses = {k: float(v.detach() if torch.is_tensor(v) else v)
                  for k, v in (outputs or {}).items() if 'loss' in k}
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        weights = _nonfinite_weights(model)
        loss_ranks, weight_ranks = self._ranks_with((bool(bad), bool(weights)))
        if not loss_ranks and not weight_ranks:
            return
        iteration = runner.iter + 1
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        scale = self._loss_scale(runner)
        if not weight_ranks and self._scale is not None and scale is not None \
                and scale < self._scale:
            runner.logger.warning(f'iteration {iteration}: {terms}; the loss scaler skipped '
                                  f'the step (scale {self._scale:g} -> {scale:g})')
            return
        found = []
        if loss_ranks:
            found.append(f'non-finite loss on rank(s) {loss_ranks}'
                         + (f' ({terms} here)' if bad else ''))
        if weight_ranks:
            found.append(f'non-finite weights after the step on rank(s) {weight_ranks}'
                         + (f' ({weights} tensors here: the gradient was not finite)'
                            if weights else ''))
        lrs = runner.optim_wrapper.get_lr()
        lr = ', '.join(f'{k} {v[0]:.3g}' for k, v in lrs.items()) if isinstance(lrs, dict) \
            else str(lrs)
        message = (f'iteration {iteration}: {"; ".join(found)} (learning rate: {lr}). '
                   f'No checkpoint of this iteration is written; the last one in '
                   f'{runner.work_dir} is the last good state. Try a lower learning rate '
                   f'(optim_wrapper.optimizer.lr) or a longer warm-up, gradient clipping '
                   f'(optim_wrapper.clip_grad=dict(max_norm=...)), or, under --amp, fp32; '
                   f'resume from the last checkpoint with --resume. To go on regardless, '
                   f"set on_nonfinite='warn' on the FiniteLossHook in the config.")
        if self.on_nonfinite == 'warn':
            runner.logger.warning(message)
            return
        if is_main_process():
            with open(osp.join(runner.work_dir, DIVERGED_MARKER), 'w') as f:
                f.write(message + '\n')
        raise FloatingPointError(message)
