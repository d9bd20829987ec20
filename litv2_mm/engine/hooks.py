"""Hooks every LITv2 config declares (``configs/_base_/litv2_runtime.py``).

* :class:`ExactResumeHook`: a resumed run continues exactly like the uninterrupted one.
* :class:`CheckpointFitHook`: a checkpoint whose tensors do not fit the model fails
  before any training or evaluation, naming every key that does not fit.
* :class:`FiniteLossHook`: a non-finite loss stops the run, named, before a checkpoint of the
  diverged weights is written.
"""
import math

import torch
from mmengine.dist import all_gather_object, get_rank, get_world_size
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils import check_state_dict_fits, get_rng_states, set_rng_states


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Save the random states with every checkpoint and, after ``--resume``, restore them
    right before the first batch of the resumed run is loaded, where the uninterrupted run
    had them. (mmengine restores the seed, not the states.)

    * That moment is ``before_train_epoch``: an epoch-based loop loads the epoch's data after
      it, and our loops position their samplers and start their dataloaders after it without
      drawing random numbers. (mmengine's own ``IterBasedTrainLoop`` loads every trained
      batch again after it: not exact.)
    * In a distributed run every rank's states are saved (their augmentations draw different
      amounts) and each rank gets its own back. Rank 0 alone writes the checkpoint, so after
      every iteration (before the checkpoint hooks, priority LOW) the ranks' states are
      gathered: one small all-gather an iteration. Resumed with another number of ranks,
      every rank gets rank 0's (with a warning).
    * Validation leaves the random states as it found them (a dataloader draws a seed when
      it starts), so a run resumed after the checkpoint of an iteration that was followed by
      a validation draws what the uninterrupted run drew.

    Hooks of priority BELOW_NORMAL and higher run their ``before_train_epoch`` before the
    states are restored, as they ran before the checkpoint was written in the uninterrupted
    run; the lower ones (the checkpoint and preemption hooks) draw no random numbers there.
    """

    priority = 'LOW'

    def __init__(self):
        self._pending = None
        self._ranks = None  # every rank's states after the last iteration (distributed runs)
        self._before_val = None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if get_world_size() > 1:
            self._ranks = all_gather_object(get_rng_states())

    def before_val(self, runner):
        self._before_val = get_rng_states()

    def after_val(self, runner):
        if self._before_val is not None:
            set_rng_states(self._before_val)
            self._before_val = None

    def before_save_checkpoint(self, runner, checkpoint):
        # on rank 0 only: its own states now, the others' as gathered after the iteration
        states = [get_rng_states()]
        if get_world_size() > 1 and self._ranks is not None:
            states += self._ranks[1:]
        checkpoint['rng_states'] = states

    def after_load_checkpoint(self, runner, checkpoint):
        states = checkpoint.get('rng_states')
        if not getattr(runner, '_resume', False) or states is None:
            return
        if isinstance(states, dict):  # one process's states (earlier litv2_mm checkpoints)
            states = [states]
        if len(states) != get_world_size():
            runner.logger.warning(f'the checkpoint holds the random states of {len(states)} '
                                  f'ranks, this run has {get_world_size()}: every rank '
                                  "resumes with rank 0's")
        self._pending = states[get_rank()] if len(states) == get_world_size() else states[0]

    def before_train_epoch(self, runner):
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check every checkpoint the runner loads (``load_from``, ``--resume``, ``tools/test.py``)
    against the model before it is used: see :func:`~litv2_mm.utils.check_state_dict_fits`.
    The config key ``allow_partial_load`` (default False) turns the error into a warning."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        source = getattr(runner, 'loading_checkpoint', None) or runner.cfg.get('load_from')
        check_state_dict_fits(model, checkpoint, f'checkpoint {source or ""}'.strip(),
                              allow_partial=bool(runner.cfg.get('allow_partial_load', False)),
                              logger=runner.logger)


NONFINITE_ACTIONS = ('error', 'warn')


@HOOKS.register_module()
class FiniteLossHook(Hook):
    """Stop the run at the first iteration whose total loss or any loss term is NaN or
    infinite, before that iteration's checkpoint is written (this hook runs before
    mmengine's ``CheckpointHook``), so no checkpoint with the diverged weights replaces the
    good ones; the error names the iteration, the terms that are not finite, the learning
    rate and what to try. The config key ``nonfinite_loss`` chooses: ``'error'`` (default,
    a ``FloatingPointError``) or ``'warn'`` (log and go on). An iteration whose step the
    fp16 loss scaler skipped (its scale went down) is only logged: that is how dynamic loss
    scaling handles an overflow.
    """

    priority = 'ABOVE_NORMAL'

    def __init__(self):
        self._scale = None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._scale = self._loss_scale(runner)

    @staticmethod
    def _loss_scale(runner):
        scaler = getattr(runner.optim_wrapper, 'loss_scaler', None)
        return scaler.get_scale() if scaler is not None and scaler.is_enabled() else None

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        losses = {k: float(v.detach() if torch.is_tensor(v) else v)
                  for k, v in (outputs or {}).items() if 'loss' in k}
        bad = {k: v for k, v in losses.items() if not math.isfinite(v)}
        if not bad:
            return
        action = runner.cfg.get('nonfinite_loss', 'error')
        if action not in NONFINITE_ACTIONS:
            raise ValueError(f'nonfinite_loss must be one of {NONFINITE_ACTIONS}, got {action!r}')
        iteration = runner.iter + 1
        terms = ', '.join(f'{k}={v}' for k, v in bad.items())
        scale = self._loss_scale(runner)
        if self._scale is not None and scale is not None and scale < self._scale:
            runner.logger.warning(f'iteration {iteration}: {terms}; the loss scaler skipped '
                                  f'the step (scale {self._scale:g} -> {scale:g})')
            return
        lrs = runner.optim_wrapper.get_lr()
        lr = ', '.join(f'{k} {v[0]:.3g}' for k, v in lrs.items()) if isinstance(lrs, dict) \
            else str(lrs)
        message = (f'iteration {iteration}: non-finite loss: {terms} (learning rate: {lr}). '
                   f'No checkpoint of this iteration is written; the last one in '
                   f'{runner.work_dir} is the last good state. Try a lower learning rate '
                   f'(optim_wrapper.optimizer.lr) or a longer warm-up, gradient clipping '
                   f'(optim_wrapper.clip_grad=dict(max_norm=...)), or, under --amp, fp32; '
                   f'resume from the last checkpoint with --resume. To go on regardless, '
                   f"set nonfinite_loss='warn' in the config.")
        if action == 'warn':
            runner.logger.warning(message)
            return
        raise FloatingPointError(message)
