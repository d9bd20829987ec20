"""Hooks every LITv2 config declares (``configs/_base_/litv2_runtime.py``).

* :class:`ExactResumeHook`: a resumed run continues exactly like the uninterrupted one.
* :class:`CheckpointFitHook`: a checkpoint whose tensors do not fit the model fails
  before any training or evaluation, naming every key that does not fit.
"""
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils.checkpoint import state_dict_mismatches


def get_rng_states():
    """Python, numpy and torch (CPU and CUDA) random states."""
    states = dict(python=random.getstate(), numpy=np.random.get_state(),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states):
    """Inverse of :func:`get_rng_states`."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


@HOOKS.register_module()
class ExactResumeHook(Hook):
    """Save the random states with every checkpoint and, after ``--resume``, restore them
    right before the first batch of the resumed run is loaded, where the uninterrupted run
    had them. (mmengine restores the seed, not the states.)

    That moment is ``before_train_epoch``: an epoch-based loop loads the epoch's data after
    it, and ``ResumableIterBasedTrainLoop`` positions its sampler and starts its dataloader
    after it without drawing random numbers. The priority is the lowest, so other hooks'
    ``before_train_epoch`` work (which may draw random numbers) runs first, as it did in the
    uninterrupted run before the checkpoint was written. (mmengine's own
    ``IterBasedTrainLoop`` loads every trained batch again after it: not exact.)
    """

    priority = 'LOWEST'

    def __init__(self):
        self._pending = None

    def before_save_checkpoint(self, runner, checkpoint):
        checkpoint['rng_states'] = get_rng_states()

    def after_load_checkpoint(self, runner, checkpoint):
        if getattr(runner, '_resume', False) and 'rng_states' in checkpoint:
            self._pending = checkpoint['rng_states']

    def before_train_epoch(self, runner):
        if self._pending is not None:
            set_rng_states(self._pending)
            self._pending = None


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose tensors do not fit the model."""


def check_state_dict_fits(model, ckpt_state, source, allow_partial=False, logger=None,
                          max_listed=20):
    """Raise :class:`CheckpointMismatchError` listing every key of ``ckpt_state`` that does
    not fit ``model`` (with both shapes), unless ``allow_partial``, in which case the list
    is logged as a warning. Keys are compared after stripping a ``module.`` prefix.

    Returns the mismatch dict of :func:`state_dict_mismatches`.
    """
    ckpt_state = {k[len('module.'):] if k.startswith('module.') else k: v
                  for k, v in ckpt_state.items()}
    found = state_dict_mismatches(model.state_dict(), ckpt_state)
    if not any(found.values()):
        return found
    lines = [f'  shape mismatch: {k}: checkpoint {got} vs model {want}'
             for k, got, want in found['shape']]
    lines += [f'  missing in checkpoint: {k}' for k in found['missing']]
    lines += [f'  not in model: {k}' for k in found['unexpected']]
    more = len(lines) - max_listed
    listed = '\n'.join(lines[:max_listed]) + (f'\n  ... and {more} more' if more > 0 else '')
    summary = (f"{source} does not fit the model: {len(found['shape'])} shape mismatches, "
               f"{len(found['missing'])} keys missing, {len(found['unexpected'])} keys the "
               f'model does not have:\n{listed}')
    if allow_partial:
        (logger.warning if logger else print)(f'{summary}\n(partial load allowed)')
        return found
    raise CheckpointMismatchError(
        f'{summary}\nIs it the checkpoint of another architecture or number of classes? '
        'To load only what fits on purpose, set allow_partial_load=True (--cfg-options '
        'allow_partial_load=True, or --allow-partial-load on litv2_mm\'s tools).')


@HOOKS.register_module()
class CheckpointFitHook(Hook):
    """Check every checkpoint the runner loads (``load_from``, ``--resume``, ``tools/test.py``)
    against the model before it is used: see :func:`check_state_dict_fits`. The config key
    ``allow_partial_load`` (default False) turns the error into a warning."""

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        state = checkpoint.get('state_dict', checkpoint)
        source = getattr(runner, 'loading_checkpoint', None) or runner.cfg.get('load_from')
        check_state_dict_fits(model, state, f'checkpoint {source or ""}'.strip(),
                              allow_partial=bool(runner.cfg.get('allow_partial_load', False)),
                              logger=runner.logger)
