"""Training loops that resume at once and exactly: iteration-based, and epoch-based from a
checkpoint written in the middle of an epoch."""
import itertools
import logging
from typing import Any, Iterable, Iterator, Optional, Union

import torch.nn as nn
from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner import Runner
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.loops import EpochBasedTrainLoop, IterBasedTrainLoop
from torch.utils.data import DataLoader

from .mmengine_internals import infinite_iterator
from .random_states import get_rng_states, set_rng_states
from .sample_seeding import BatchSamplerWrapper, with_batch_sampler


class _NotIterated:
    """Stands in for the dataloader while ``IterBasedTrainLoop.__init__`` runs: that
    ``__init__`` starts iterating its dataloader (worker processes start and prefetch
    batches), which must wait until the resume point is known."""

    def __init__(self, dataloader: DataLoader) -> None:
        self.dataset = dataloader.dataset

    def __iter__(self) -> Iterator[Any]:
        return iter(())


class _ResumedBatchSampler(BatchSamplerWrapper):
    """A batch sampler whose first pass starts after ``skip`` batches, drawn as indices
    only (no data is loaded); later passes are the wrapped sampler's own. The skipped
    batches come from the same iterator that goes on, so state a batch sampler keeps
    between batches (mmdet's aspect-ratio buckets) stays consistent."""

    def __init__(self, batch_sampler: Iterable[list[int]], skip: int) -> None:
        super().__init__(batch_sampler)
        self._skip = skip

    def __iter__(self) -> Iterator[list[int]]:
        skip, self._skip = self._skip, 0
        yield from itertools.islice(iter(self.batch_sampler), skip, None)


def skip_batches(dataloader: DataLoader, skip: int) -> Optional[DataLoader]:
    """``dataloader`` positioned after its first ``skip`` batches of this pass, drawn as
    indices only (see :class:`_ResumedBatchSampler`), or None if it has no batch sampler to
    position."""
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    if batch_sampler is None or getattr(batch_sampler, 'sampler', None) is None:
        return None
    print_log(f'Resuming after {skip} trained batches: the sampler moves past them without '
              'loading them', logger='current')
    return with_batch_sampler(dataloader, _ResumedBatchSampler(batch_sampler, skip))


def _replay_warning(dataloader: DataLoader, skip: int) -> None:
    print_log(f'{type(dataloader).__name__} has no batch sampler to position: loading the '
              f'{skip} trained batches again to reach the resume point', logger='current',
              level=logging.WARNING)


@LOOPS.register_module()
class ResumableIterBasedTrainLoop(IterBasedTrainLoop):
    """mmengine's ``IterBasedTrainLoop``, except how a resumed run reaches iteration N.

    mmengine loads and augments the N batches already trained and throws them away
    (mmengine issues #1520, #1633) after ``before_train_epoch``, so the random states
    restored there have moved on when batch N is loaded. This loop calls
    ``before_train_epoch`` (where :class:`ExactResumeHook` restores the random states and
    mmengine's ``DistSamplerSeedHook`` sets the sampler's epoch), then moves the sampler past
    the N batches' indices without loading anything (also with ``num_workers > 0``: indices
    are drawn in the main process, in order) and starts the dataloader without drawing
    random numbers, so batch N is loaded with the states the uninterrupted run had.

    The batch sampler (a plain ``BatchSampler`` or mmdet's ``AspectRatioBatchSampler``) is
    stepped past the N batches, indices only, and the dataloader goes on from there
    (:class:`_ResumedBatchSampler`). A finite sampler (``DefaultSampler``) first gets its
    epoch (``N // len(dataloader)``) and then skips the rest; mmengine's ``InfiniteSampler``
    is stepped N batches on. A dataloader without a batch sampler falls back to mmengine's
    replay, with a warning. Arguments as for ``IterBasedTrainLoop``.
    """

    def __init__(self, runner: Runner, dataloader: Union[DataLoader, dict],
                 max_iters: Union[int, float], val_begin: int = 1, val_interval: int = 1000,
                 dynamic_intervals: Optional[list[tuple[int, int]]] = None) -> None:
        if int(max_iters) != max_iters or max_iters < 1:
            raise ValueError(f'train_cfg.max_iters must be a positive int, got {max_iters!r}')
        BaseLoop.__init__(self, runner, dataloader)  # builds a dataloader config, as mmengine
        built = self.dataloader
        # The iterator is made in run(), once the resume point is known (see _NotIterated).
        super().__init__(runner, _NotIterated(built), max_iters, val_begin=val_begin,
                         val_interval=val_interval, dynamic_intervals=dynamic_intervals)
        self.dataloader, self.dataloader_iterator = built, None

    def _start_iterator(self) -> Iterator[Any]:
        """The dataloader iterator, positioned at batch ``self._iter`` (see the class doc);
        the random states are the same before and after (a dataloader draws its base seed).
        """
        skipped = self._iter
        states = get_rng_states()
        batch_sampler = getattr(self.dataloader, 'batch_sampler', None)
        sampler = getattr(batch_sampler, 'sampler', None)
        epoch, positioned = 0, None
        if skipped:
            if sampler is not None and type(sampler).__name__ != 'InfiniteSampler':
                epoch, skipped = divmod(skipped, len(batch_sampler))  # whole epochs, then rest
                if hasattr(sampler, 'set_epoch'):
                    sampler.set_epoch(epoch)
            positioned = skip_batches(self.dataloader, skipped)
        if positioned is not None:
            self.dataloader = positioned
        iterator = infinite_iterator(self.dataloader, epoch)
        if self._iter and positioned is None:
            _replay_warning(self.dataloader, self._iter)
            for _ in range(self._iter):
                next(iterator)
        set_rng_states(states)
        return iterator

    def run(self) -> nn.Module:
        """Launch training (hooks in the order of mmengine's loop, see the class doc)."""
        self.runner.call_hook('before_train')
        self.runner.call_hook('before_train_epoch')
        self.dataloader_iterator = self._start_iterator()
        while self._iter < self._max_iters and not self.stop_training:
            self.runner.model.train()
            data_batch = next(self.dataloader_iterator)
            self.run_iter(data_batch)
            self._decide_current_val_interval()
            if (self.runner.val_loop is not None and self._iter >= self.val_begin
                    and (self._iter % self.val_interval == 0 or self._iter == self._max_iters)):
                self.runner.val_loop.run()
        self.runner.call_hook('after_train_epoch')
        self.runner.call_hook('after_train')
        return self.runner.model


EPOCH_BATCHES_KEY = 'train_epoch_batches'
"""The message-hub runtime info (saved with every checkpoint) holding how many batches of
the current epoch have been trained."""


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """mmengine's ``EpochBasedTrainLoop``, except that a run resumed from a checkpoint written
    in the middle of an epoch (by :class:`~litv2_mm.engine.PreemptionHook`, or a
    ``CheckpointHook`` with ``by_epoch=False``) trains the rest of that epoch and no more:
    mmengine's loop restarts the epoch from its first batch, training the batches before the
    checkpoint twice.

    Every iteration records how many batches of its epoch it has trained
    (:data:`EPOCH_BATCHES_KEY` in the message hub, which checkpoints carry). Resumed at batch
    k of an epoch, the loop calls ``before_train_epoch`` (the sampler gets its epoch, the
    random states are restored by :class:`~litv2_mm.engine.ExactResumeHook`), moves the
    batch sampler past the k batches without loading them (:func:`skip_batches`), starts the
    dataloader without drawing random numbers and goes on with batch index k. A checkpoint
    written at an epoch's end resumes at the next epoch, as in mmengine. Arguments as for
    ``EpochBasedTrainLoop``.
    """

    def __init__(self, runner: Runner, dataloader: Union[DataLoader, dict], max_epochs: int,
                 val_begin: int = 1, val_interval: int = 1,
                 dynamic_intervals: Optional[list[tuple[int, int]]] = None) -> None:
        sampler = (dataloader.get('sampler') or {}).get('type') if isinstance(
            dataloader, dict) else type(getattr(dataloader, 'sampler', None)).__name__
        if sampler == 'InfiniteSampler':
            raise ValueError('train_dataloader.sampler is an InfiniteSampler, whose epochs never '
                             'end, in an epoch-based run (train_cfg.max_epochs): use '
                             "sampler=dict(type='DefaultSampler', shuffle=True), or an "
                             "iteration-based train_cfg (type='ResumableIterBasedTrainLoop', "
                             'max_iters=...)')
        super().__init__(runner, dataloader, max_epochs, val_begin=val_begin,
                         val_interval=val_interval, dynamic_intervals=dynamic_intervals)

    def run_epoch(self) -> None:
        """Iterate one epoch (the rest of it after a mid-epoch resume)."""
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        done = int(self.runner.message_hub.get_info(EPOCH_BATCHES_KEY, 0) or 0)
        for idx, data_batch in self._batches(done):
            self.runner.message_hub.update_info(EPOCH_BATCHES_KEY, idx + 1)
            self.run_iter(idx, data_batch)
        self.runner.message_hub.update_info(EPOCH_BATCHES_KEY, 0)  # the epoch's checkpoint
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def _batches(self, done: int) -> Iterator[tuple[int, Any]]:
        """(index, batch) pairs of this epoch from batch ``done`` on."""
        if not done:
            return enumerate(self.dataloader)
        states = get_rng_states()  # an iterator draws its base seed: not in the full run here
        positioned = skip_batches(self.dataloader, done)
        if positioned is None:
            _replay_warning(self.dataloader, done)
            iterator = itertools.islice(iter(self.dataloader), done, None)
        else:
            iterator = iter(positioned)
        set_rng_states(states)
        return enumerate(iterator, done)
