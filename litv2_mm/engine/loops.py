"""An iteration-based training loop that resumes at once and exactly."""
import logging

from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner.base_loop import BaseLoop
from mmengine.runner.loops import IterBasedTrainLoop, _InfiniteDataloaderIterator
from mmengine.runner.utils import calc_dynamic_intervals

from .hooks import get_rng_states, set_rng_states


class _SkipFirstIndices:
    """Put in place of ``batch_sampler.sampler``: its next pass lacks the first ``count``
    indices; the pass puts the original sampler back, so later passes are whole."""

    def __init__(self, batch_sampler, count):
        self.batch_sampler, self.sampler, self.count = batch_sampler, batch_sampler.sampler, count
        batch_sampler.sampler = self

    def __iter__(self):
        self.batch_sampler.sampler = self.sampler
        it = iter(self.sampler)
        for _ in range(self.count):
            next(it)
        yield from it

    def __len__(self):
        return len(self.sampler) - self.count


class _SharedIndexStream:
    """Stands in for an ``InfiniteSampler`` while its batch sampler is stepped: yields from
    the sampler's running index generator (``sampler.indices``) without delegating to it, so
    abandoning the stepping leaves that generator open (``yield from`` would close it).
    Other attributes (``dataset``...) are the sampler's."""

    def __init__(self, sampler):
        self._sampler = sampler

    def __getattr__(self, name):
        return getattr(self._sampler, name)

    def __iter__(self):
        indices = self._sampler.indices
        while True:
            yield next(indices)


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

    Positioning works for samplers whose state carries over from pass to pass (mmengine's
    ``InfiniteSampler``, also under mmdet's ``AspectRatioBatchSampler``: the batch sampler
    is stepped N times, indices only) and for finite samplers with ``set_epoch`` (e.g.
    ``DefaultSampler``) under a plain ``BatchSampler``. Other combinations fall back to
    mmengine's replay, with a warning. Arguments as for ``IterBasedTrainLoop``.
    """

    def __init__(self, runner, dataloader, max_iters, val_begin=1, val_interval=1000,
                 dynamic_intervals=None):
        # IterBasedTrainLoop.__init__ would start iterating the dataloader (workers prefetch
        # batches); here the iterator is made in run(), once the resume point is known.
        BaseLoop.__init__(self, runner, dataloader)
        self._max_iters = int(max_iters)
        if self._max_iters != max_iters or self._max_iters < 1:
            raise ValueError(f'train_cfg.max_iters must be a positive int, got {max_iters!r}')
        self._max_epochs = 1
        self._epoch = 0
        self._iter = 0
        self.val_begin = val_begin
        self.val_interval = val_interval
        self.stop_training = False
        if hasattr(self.dataloader.dataset, 'metainfo'):
            self.runner.visualizer.dataset_meta = self.dataloader.dataset.metainfo
        self.dataloader_iterator = None
        self.dynamic_milestones, self.dynamic_intervals = calc_dynamic_intervals(
            self.val_interval, dynamic_intervals)

    def _batch_sampler(self):
        return getattr(self.dataloader, 'batch_sampler', None)

    def _position_sampler(self, batches):
        """Move the sampler past ``batches`` batches without loading data. Returns the
        epoch the dataloader iterator is in then, or None if it cannot (caller replays)."""
        batch_sampler = self._batch_sampler()
        sampler = getattr(batch_sampler, 'sampler', None)
        if batch_sampler is None or sampler is None:
            return None
        if type(sampler).__name__ == 'InfiniteSampler':
            # the index generator and the batch sampler's own state (e.g. the aspect-ratio
            # buckets) carry over to the dataloader's next pass
            batch_sampler.sampler = _SharedIndexStream(sampler)
            try:
                steps = iter(batch_sampler)
                for _ in range(batches):
                    next(steps)
                steps.close()
            finally:
                batch_sampler.sampler = sampler
            return 0
        if hasattr(sampler, 'set_epoch') and type(batch_sampler).__name__ == 'BatchSampler':
            epoch, rest = divmod(batches, len(batch_sampler))
            sampler.set_epoch(epoch)
            if rest:
                _SkipFirstIndices(batch_sampler, rest * batch_sampler.batch_size)
            return epoch
        return None

    def _start_iterator(self):
        """The dataloader iterator, positioned at batch ``self._iter``; the random states
        are the same before and after (starting a dataloader draws its base seed)."""
        skipped = self._iter
        states = get_rng_states()
        epoch = self._position_sampler(skipped) if skipped else 0
        batch_sampler = self._batch_sampler()
        iterator = _InfiniteDataloaderIterator(self.dataloader)
        if epoch is None:
            print_log(f'{type(batch_sampler).__name__} / {type(batch_sampler.sampler).__name__}'
                      f' cannot be positioned: loading the {skipped} trained batches again '
                      'to reach the resume point', logger='current', level=logging.WARNING)
            for _ in range(skipped):
                next(iterator)
        else:
            iterator._epoch = epoch
            if skipped:
                print_log(f'Resuming at iteration {skipped}: sampler moved past the trained '
                          'batches without loading them', logger='current')
        set_rng_states(states)
        return iterator

    def run(self):
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
