"""A toy training run (mmengine Runner, a dropout regressor on random vectors) that logs
every item it loads and trains on: for the loop, resume and preemption tests."""
import os
import os.path as osp
import signal
import subprocess

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


def _first_attempt_on(rank):
    from mmengine.dist import get_rank
    return (rank in (None, get_rank())
            and os.environ.get('TORCHELASTIC_RESTART_COUNT', '0') == '0')


@HOOKS.register_module(force=True)
class SignalAtIterHook(Hook):
    """Send ``signum`` when iteration ``at_iter`` (1-based) starts (it arrives while that
    iteration is in flight), on rank ``rank`` only if given, and only in torchrun's first
    attempt (not after an elastic restart). ``to``: ``'process'`` (this process alone),
    ``'group'`` (this process's group, its dataloader workers included, sent by another
    process, as torchrun's agent ``os.killpg``s a worker, slurm and Kubernetes signal every
    process; torch's workers take a SIGTERM from their parent as a request to exit) or
    ``'launcher'`` (the parent: torchrun's agent, which then stops every worker as it does
    on a SIGTERM)."""

    priority = 'HIGHEST'

    def __init__(self, at_iter, signum=int(signal.SIGTERM), rank=None, to='process'):
        assert to in ('process', 'group', 'launcher'), to
        self.at_iter, self.signum, self.rank, self.to = at_iter, signum, rank, to

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 == self.at_iter and _first_attempt_on(self.rank):
            if self.to == 'group':
                subprocess.run(['kill', '-s', signal.Signals(self.signum).name[3:], '--',
                                f'-{os.getpgid(0)}'], check=True, start_new_session=True)
            else:
                os.kill(os.getpid() if self.to == 'process' else os.getppid(), self.signum)


def _nan(loss):
    """``loss`` (a tensor or a list of them, as mmdet's heads return) times NaN."""
    return [x * float('nan') for x in loss] if isinstance(loss, list) else loss * float('nan')


@HOOKS.register_module(force=True)
class NaNAtIterHook(Hook):
    """In iteration ``at_iter`` (1-based; torchrun's first attempt, rank ``rank`` only if
    given) make the losses NaN (``where='loss'``: a forward hook on the model) or, with a
    finite loss, the gradient of the first parameter (``where='grad'``)."""

    priority = 'HIGHEST'

    def __init__(self, at_iter, where='loss', rank=None):
        assert where in ('loss', 'grad'), where
        self.at_iter, self.where, self.rank, self._handle = at_iter, where, rank, None

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter + 1 != self.at_iter or not _first_attempt_on(self.rank):
            return
        model = getattr(runner.model, 'module', runner.model)
        if self.where == 'grad':
            param = next(model.parameters())
            self._handle = param.register_hook(lambda grad: torch.full_like(grad, float('nan')))
        else:
            self._handle = model.register_forward_hook(
                lambda module, args, out: {k: _nan(v) if 'loss' in k else v
                                           for k, v in out.items()})

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self._handle is not None:
            self._handle.remove()
            self._handle = None


def run(work_dir, log, sampler=INFINITE, max_iters=None, max_epochs=None, resume=False,
        size=1000, workers=0, hooks=(), checkpoint=None, loop=None, runner_type=Runner):
    """Train the toy (iteration-based with ``max_iters``, else epoch-based with
    ``max_epochs``) with the hooks every LITv2 config declares plus ``hooks`` by
    ``runner_type``; returns the runner."""
    if max_iters is not None:
        train_cfg = dict(type=loop or 'ResumableIterBasedTrainLoop', max_iters=max_iters)
        checkpoint = checkpoint or dict(by_epoch=False, interval=3)
    else:
        train_cfg = dict(type=loop or 'ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
        checkpoint = checkpoint or dict(by_epoch=True, interval=1)
    runner = runner_type(
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
