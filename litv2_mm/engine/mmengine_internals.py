"""The private details of mmengine 0.10.x that litv2_mm relies on, all of them here, each
pinned by a test in ``tests/engine/test_mmengine_internals.py`` that fails when mmengine
changes it (instead of a resumed run drifting silently)."""
from mmengine.runner import Runner
from mmengine.runner.loops import _InfiniteDataloaderIterator
from torch.utils.data import DataLoader


def infinite_iterator(dataloader: DataLoader, epoch: int = 0) -> _InfiniteDataloaderIterator:
    """mmengine's infinite iterator over ``dataloader`` (the one ``IterBasedTrainLoop``
    uses: at the end of the data it warns, sets the sampler's next epoch and starts again),
    counting epochs from ``epoch``.

    mmengine has no public way to start the iterator at another epoch than 0, and a run
    resumed in epoch ``epoch`` of a finite sampler must set epoch ``epoch + 1`` next, as the
    uninterrupted run does, so the private class's epoch counter ``_epoch`` is set.
    """
    iterator = _InfiniteDataloaderIterator(dataloader)
    iterator._epoch = epoch
    return iterator


def runner_resumes(runner: Runner) -> bool:
    """Whether ``runner`` resumes a run (``--resume``: weights, optimizer, iteration) rather
    than only loading weights (``load_from``). mmengine keeps this only in the private
    ``Runner._resume`` (a runner built without a config has no ``cfg.resume``), and its
    ``after_load_checkpoint`` hooks are called alike in both cases."""
    return bool(getattr(runner, '_resume', False))
