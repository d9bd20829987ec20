"""Pins of the private mmengine details litv2_mm relies on (all in
``litv2_mm/engine/mmengine_internals.py``): if mmengine renames or changes one, these fail
here rather than a resumed run drifting silently."""
import inspect

from mmengine.dataset import DefaultSampler
from mmengine.runner import Runner, loops
from torch.utils.data import DataLoader

from litv2_mm.engine.mmengine_internals import infinite_iterator, runner_resumes


def test_infinite_iterator_starts_at_the_given_epoch(monkeypatch):
    """``infinite_iterator`` sets the epoch counter of mmengine's private
    ``_InfiniteDataloaderIterator`` (no public way to start it at another epoch)."""
    assert list(inspect.signature(loops._InfiniteDataloaderIterator).parameters) == ['dataloader']
    monkeypatch.setattr(loops.time, 'sleep', lambda seconds: None)  # its pause at a restart
    sampler = DefaultSampler(list(range(4)), shuffle=True)
    iterator = infinite_iterator(DataLoader(list(range(4)), batch_size=2, sampler=sampler), 3)
    assert iterator._epoch == 3
    for _ in range(3):  # two batches an epoch: the third starts the next epoch
        next(iterator)
    assert sampler.epoch == 4 and iterator._epoch == 4


def test_runner_resumes_reads_what_the_runner_was_built_with(tmp_path):
    """``Runner._resume`` is the runner's ``resume`` argument (no public accessor)."""
    import torch.nn as nn
    source = inspect.getsource(Runner.__init__)
    assert 'self._resume = resume' in source
    for resume in (True, False):
        runner = Runner(model=nn.Linear(1, 1), work_dir=str(tmp_path / str(resume)),
                        resume=resume, default_scope='mmengine')
        assert runner_resumes(runner) is resume
