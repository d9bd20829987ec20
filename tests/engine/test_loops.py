"""ResumableIterBasedTrainLoop + ExactResumeHook: an iteration-based run resumed mid-way
ends with the same weights as the uninterrupted run, and loads no data for the batches it
skips (also with worker processes, in the same order)."""
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, MODELS
from mmengine.runner import Runner
from torch.utils.data import Dataset

import litv2_mm  # noqa: F401  (registers the loop and the hook)


@DATASETS.register_module(force=True)
class LoadLoggingDataset(Dataset):
    """Item i: a random vector (the 'augmentation' draws from the global RNG) and i; every
    load appends i to ``log`` (a file, so worker processes count too)."""

    def __init__(self, size, log):
        self.size, self.log = size, log

    def __len__(self):
        return self.size

    def __getitem__(self, idx):
        with open(self.log, 'a') as f:
            f.write(f'{idx}\n')
        return dict(inputs=torch.randn(4) + idx, idx=idx)


@MODELS.register_module(force=True)
class DropoutRegressor(BaseModel):
    """A linear layer behind dropout (draws from the RNG in training); records the items
    it trained on in ``seen``."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 1)
        self.drop = nn.Dropout(0.5)
        self.seen = []

    def forward(self, inputs, idx, mode='tensor'):
        self.seen.extend(idx.tolist())
        out = self.fc(self.drop(inputs))
        return dict(loss=((out - 1) ** 2).mean()) if mode == 'loss' else out


def run(work_dir, max_iters, sampler, log, resume=False, size=1000, workers=0):
    runner = Runner(
        model=dict(type='DropoutRegressor'), work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=dict(type='LoadLoggingDataset', size=size, log=str(log)),
            sampler=sampler, batch_size=2, num_workers=workers,
            persistent_workers=False, collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='ResumableIterBasedTrainLoop', max_iters=max_iters),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=3),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='ExactResumeHook')], log_processor=dict(by_epoch=False),
        randomness=dict(seed=0), resume=resume, default_scope='mmengine')
    runner.train()
    return runner


def loads(log):
    return [int(line) for line in open(log)] if osp.exists(log) else []


INFINITE = dict(type='InfiniteSampler', shuffle=True)


@pytest.mark.slow  # trainings
@pytest.mark.parametrize('sampler,size', [(INFINITE, 1000),
                                          (dict(type='DefaultSampler', shuffle=True), 4)])
def test_resumed_run_ends_with_the_same_weights_and_loads_only_what_it_trains(
        tmp_path, sampler, size):
    full = run(tmp_path / 'full', 6, sampler, tmp_path / 'full.log', size=size)
    run(tmp_path / 'part', 3, sampler, tmp_path / 'part.log', size=size)
    resumed = run(tmp_path / 'part', 6, sampler, tmp_path / 'resumed.log', resume=True,
                  size=size)
    assert full.model.seen[6:] == resumed.model.seen  # iterations 4-6, in order
    assert loads(tmp_path / 'resumed.log') == full.model.seen[6:]  # nothing skipped was loaded
    for key, value in full.model.state_dict().items():
        assert torch.equal(value, resumed.model.state_dict()[key]), key
    # the uninterrupted run's iterations 4-6 drew the same random numbers as the resumed run
    assert loads(tmp_path / 'full.log')[6:] == loads(tmp_path / 'resumed.log')


@pytest.mark.slow
def test_workers_keep_the_order_and_skip_without_loading(tmp_path):
    full = run(tmp_path / 'full', 6, INFINITE, tmp_path / 'full.log', workers=2)
    run(tmp_path / 'part', 3, INFINITE, tmp_path / 'part.log', workers=2)
    resumed = run(tmp_path / 'part', 6, INFINITE, tmp_path / 'resumed.log', resume=True,
                  workers=2)
    assert resumed.model.seen == full.model.seen[6:]
    skipped = set(full.model.seen[:6])  # 6 distinct indices of 1000
    assert not skipped & set(loads(tmp_path / 'resumed.log'))


@pytest.mark.slow
def test_mmengine_loop_replays_the_skipped_batches(tmp_path):
    """The cost the loop removes (mmengine issues #1520, #1633): a control run."""
    run(tmp_path / 'part', 3, INFINITE, tmp_path / 'part.log')
    runner = Runner.from_cfg(dict(
        model=dict(type='DropoutRegressor'), work_dir=str(tmp_path / 'part'),
        train_dataloader=dict(dataset=dict(type='LoadLoggingDataset', size=1000,
                                           log=str(tmp_path / 'replay.log')),
                              sampler=INFINITE, batch_size=2, num_workers=0,
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='IterBasedTrainLoop', max_iters=6),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), resume=True,
        default_scope='mmengine'))
    runner.train()
    assert len(loads(tmp_path / 'replay.log')) == 12  # 6 skipped + 6 trained


def test_the_mmengine_internal_the_loop_relies_on(monkeypatch):
    """``infinite_iterator`` sets the epoch counter of mmengine's private
    ``_InfiniteDataloaderIterator`` (no public way to start it at another epoch): if mmengine
    renames or changes it, this fails here rather than a resumed run drifting silently."""
    import inspect

    from mmengine.dataset import DefaultSampler
    from mmengine.runner import loops
    from torch.utils.data import DataLoader

    from litv2_mm.engine.loops import infinite_iterator
    assert list(inspect.signature(loops._InfiniteDataloaderIterator).parameters) == ['dataloader']
    monkeypatch.setattr(loops.time, 'sleep', lambda seconds: None)  # its pause at a restart
    sampler = DefaultSampler(list(range(4)), shuffle=True)
    iterator = infinite_iterator(DataLoader(list(range(4)), batch_size=2, sampler=sampler), 3)
    assert iterator._epoch == 3
    for _ in range(3):  # two batches an epoch: the third starts the next epoch
        next(iterator)
    assert sampler.epoch == 4 and iterator._epoch == 4


def test_the_loop_is_built_as_mmengine_builds_it_without_loading_data(tmp_path):
    from litv2_mm.engine import ResumableIterBasedTrainLoop
    runner = Runner(
        model=dict(type='DropoutRegressor'), work_dir=str(tmp_path),
        train_dataloader=dict(dataset=dict(type='LoadLoggingDataset', size=8,
                                           log=str(tmp_path / 'log')),
                              sampler=INFINITE, batch_size=2, num_workers=2,
                              collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='ResumableIterBasedTrainLoop', max_iters=4, val_interval=2),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), default_scope='mmengine')
    loop = runner.train_loop
    assert isinstance(loop, ResumableIterBasedTrainLoop)
    assert (loop.max_iters, loop.val_interval, loop.iter, loop.epoch) == (4, 2, 0, 0)
    assert runner.train_dataloader.batch_size == 2 and loop.dataloader_iterator is None
    assert loads(tmp_path / 'log') == []  # no worker started, nothing prefetched
    with pytest.raises(ValueError, match='max_iters must be a positive int'):
        ResumableIterBasedTrainLoop(runner, runner.train_dataloader, max_iters=2.5)
