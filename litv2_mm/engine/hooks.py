"""Hooks every LITv2 config declares (``configs/_base_/litv2_runtime.py``).

* :class:`ExactResumeHook`: a resumed run continues exactly like the uninterrupted one.
* :class:`CheckpointFitHook`: a checkpoint whose tensors do not fit the model fails
  before any training or evaluation, naming every key that does not fit.
"""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.registry import HOOKS

from ..utils import check_state_dict_fits, get_rng_states, set_rng_states


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
