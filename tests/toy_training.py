"""A toy training run (mmengine Runner, a dropout regressor on random vectors) that logs
every item it loads and trains on: for the loop, resume and preemption tests."""
import os
import os.path as osp
import signal

import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, MODELS
from mmengine.runner import Runner
from torch.utils.data import Dataset

import litv2_mm  # noqa: F401  (registers the loops and the hooks)

INFINITE = dict(type='InfiniteSampler', shuffle=True)
FINITE = dict(type='DefaultSampler', shuffle=True)


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


@HOOKS.register_module(force=True)
class SignalAtIterHook(Hook):
    """Send ``signum`` to this process when iteration ``at_iter`` (1-based) starts (it
    arrives while that iteration is in flight), on rank ``rank`` only if given, and only in
    torchrun's first attempt (not after an elastic restart)."""

    priority = 'HIGHEST'

    def __init__(self, at_iter, signum=int(signal.SIGTERM), rank=None):
        self.at_iter, self.signum, self.rank = at_iter, signum, rank

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        from mmengine.dist import get_rank
        if (runner.iter + 1 == self.at_iter and self.rank in (None, get_rank())
                and os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') == '0'):
            os.kill(os.getpid(), self.signum)


def run(work_dir, log, sampler=INFINITE, max_iters=None, max_epochs=None, resume=False,
        size=1000, workers=0, hooks=(), checkpoint=None, loop=None):
    """Train the toy (iteration-based with ``max_iters``, else epoch-based with
    ``max_epochs``) with the hooks every LITv2 config declares plus ``hooks``; returns the
    runner."""
    if max_iters is not None:
        train_cfg = dict(type=loop or 'ResumableIterBasedTrainLoop', max_iters=max_iters)
        checkpoint = checkpoint or dict(by_epoch=False, interval=3)
    else:
        train_cfg = dict(type=loop or 'ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
        checkpoint = checkpoint or dict(by_epoch=True, interval=1)
    runner = Runner(
        model=dict(type='DropoutRegressor'), work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=dict(type='LoadLoggingDataset', size=size, log=str(log)),
            sampler=sampler, batch_size=2, num_workers=workers,
            persistent_workers=False, collate_fn=dict(type='default_collate')),
        train_cfg=train_cfg,
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        default_hooks=dict(checkpoint=dict(type='CheckpointHook', **checkpoint),
                           logger=dict(type='LoggerHook', interval=1)),
        custom_hooks=[dict(type='ExactResumeHook'), dict(type='PreemptionHook'), *hooks],
        log_processor=dict(by_epoch=max_iters is None),
        randomness=dict(seed=0), resume=resume, default_scope='mmengine')
    runner.train()
    return runner


def loads(log):
    """The items loaded, in order, as ``log`` recorded them."""
    return [int(line) for line in open(log)] if osp.exists(log) else []


def assert_same_runs(a, b):
    """Two runners whose models end with bitwise equal weights."""
    from helpers import assert_same_weights
    assert_same_weights(a.model.state_dict(), b.model.state_dict())
