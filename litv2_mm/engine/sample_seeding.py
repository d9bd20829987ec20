"""Augmentations seeded per sample, so that a resumed run loads every batch as the
uninterrupted run did, with dataloader workers too.

A dataloader worker draws its augmentations (mmcv's and mmdet's random flips, crops, resizes,
photometric distortions: Python's ``random``, numpy's and torch's global generators) from a
state that depends on everything the worker loaded before; a resumed run starts new workers,
so its augmentations differ from the uninterrupted run's. Here every sample's augmentation
draws from generators seeded with ``(run seed, rank, epoch, position of the sample in the
epoch)``: the same wherever and whenever the sample is loaded (in a worker or the main
process, after a resume or not, with any ``num_workers``), and different for every sample
and epoch. The process's own generators are left as they were.

How: the batch sampler yields :class:`SampleKey` indices (an ``int`` that carries its seed),
mmengine's ``BaseDataset.get_data_info`` puts the index into the sample's ``sample_idx``, and
the dataset's pipeline (:class:`SeededPipeline`) seeds from it before the transforms run.
Chosen over torchdata's ``StatefulDataLoader``: nothing is added to the checkpoint, the
result does not depend on ``num_workers``, and mmengine builds its own ``DataLoader`` as
usual.
"""
import inspect
import logging
import random
from typing import Any, Callable, Iterable, Iterator, List, Optional

import numpy as np
import torch
from mmengine.dist import get_rank
from mmengine.logging import print_log
from torch.utils.data import DataLoader

from .random_states import get_rng_states, set_rng_states


class SampleKey(int):
    """A dataset index that carries the seed of its sample's augmentations."""

    def __new__(cls, index: int, seed: int) -> 'SampleKey':
        key = super().__new__(cls, index)
        key.seed = seed
        return key

    def __reduce__(self) -> tuple[type, tuple[int, int]]:  # to the workers through the index queue
        return SampleKey, (int(self), self.seed)


def sample_seed(seed: int, rank: int, epoch: int, position: int) -> int:
    """The seed of the ``position``-th sample of ``epoch`` on ``rank`` in a run seeded
    ``seed`` (32 bits, from numpy's ``SeedSequence``)."""
    entropy = [int(seed) % 2**32, int(rank), int(epoch), int(position)]
    return int(np.random.SeedSequence(entropy).generate_state(1)[0])


class BatchSamplerWrapper:
    """A batch sampler that stands for ``batch_sampler``: attributes it does not set itself
    (``sampler``, ``batch_size``...) and its length are ``batch_sampler``'s."""

    def __init__(self, batch_sampler: Iterable[list[int]]) -> None:
        self.batch_sampler = batch_sampler

    def __getattr__(self, name: str) -> Any:  # called for names not found on the wrapper itself
        if name == 'batch_sampler':  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.batch_sampler, name)

    def __len__(self) -> int:
        return len(self.batch_sampler)


class SampleSeedingBatchSampler(BatchSamplerWrapper):
    """Yields ``batch_sampler``'s batches with every index as a :class:`SampleKey`; the
    position counts the indices of this pass (an epoch of a finite sampler, the whole run of
    mmengine's ``InfiniteSampler``), the epoch is the sampler's (``sampler.epoch``, which
    ``set_epoch`` sets) when the pass starts."""

    def __init__(self, batch_sampler: Iterable[list[int]], seed: int, rank: int = 0) -> None:
        super().__init__(batch_sampler)
        self.seed, self.rank = seed, rank

    def __iter__(self) -> Iterator[List[SampleKey]]:
        epoch = getattr(getattr(self.batch_sampler, 'sampler', None), 'epoch', 0)
        position = 0
        for batch in self.batch_sampler:
            keys = []
            for index in batch:
                keys.append(SampleKey(index, sample_seed(self.seed, self.rank, epoch, position)))
                position += 1
            yield keys


class SeededPipeline:
    """A dataset's pipeline whose transforms draw from generators seeded by the sample's
    :class:`SampleKey` (Python's ``random``, numpy's and torch's global generators, restored
    afterwards). A sample without a key (a dataset's refetch of another index after a
    transform gave None, a sample loaded outside the dataloader) runs as it would anyway."""

    def __init__(self, pipeline: Callable[[dict], Optional[dict]]) -> None:
        self.pipeline = pipeline

    def __call__(self, results: dict) -> Optional[dict]:
        key = results.get('sample_idx')
        if not isinstance(key, SampleKey):
            return self.pipeline(results)
        results['sample_idx'] = int(key)
        states = get_rng_states()
        random.seed(key.seed)
        np.random.seed(key.seed)
        torch.manual_seed(key.seed)
        try:
            return self.pipeline(results)
        finally:
            set_rng_states(states)

    def __getattr__(self, name: str) -> Any:
        # ``transforms``, ``__repr__``... of the wrapped pipeline
        if name == 'pipeline':
            raise AttributeError(name)
        return getattr(self.pipeline, name)

    def __repr__(self) -> str:
        return f'SeededPipeline({self.pipeline!r})'


def with_batch_sampler(dataloader: DataLoader, batch_sampler: Iterable[list[int]]) -> DataLoader:
    """A DataLoader like ``dataloader`` (same dataset, workers, collate and seeding) that
    draws its batches from ``batch_sampler``."""
    names = ('num_workers', 'collate_fn', 'pin_memory', 'timeout', 'worker_init_fn',
             'multiprocessing_context', 'generator', 'prefetch_factor', 'persistent_workers',
             'pin_memory_device', 'in_order')
    kwargs = {name: getattr(dataloader, name) for name in names
              if name in inspect.signature(DataLoader).parameters and hasattr(dataloader, name)}
    return DataLoader(dataloader.dataset, batch_sampler=batch_sampler, **kwargs)


def seed_every_sample(dataloader: DataLoader, seed: Optional[int]) -> DataLoader:
    """``dataloader`` with its augmentations seeded per sample (see the module's doc), or
    ``dataloader`` itself where that cannot be done: no run seed, no batch sampler, or a
    dataset without its own ``pipeline`` (mmengine's dataset wrappers pass plain indices
    on), which is logged as a warning where workers load the data (the main process's
    states alone are saved with checkpoints, so such a resumed run is not exact)."""
    dataset = getattr(dataloader, 'dataset', None)
    batch_sampler = getattr(dataloader, 'batch_sampler', None)
    if seed is None or isinstance(batch_sampler, SampleSeedingBatchSampler):
        return dataloader
    if batch_sampler is None or not callable(getattr(dataset, 'pipeline', None)):
        if getattr(dataloader, 'num_workers', 0):
            print_log(f'{type(dataset).__name__} has no pipeline of its own (or the dataloader '
                      'no batch sampler): its augmentations in the dataloader workers are not '
                      'seeded per sample, so a resumed run will not load the batches the '
                      'uninterrupted run loaded; num_workers=0 makes the resume exact',
                      logger='current', level=logging.WARNING)
        return dataloader
    if not isinstance(dataset.pipeline, SeededPipeline):
        dataset.pipeline = SeededPipeline(dataset.pipeline)
    return with_batch_sampler(dataloader, SampleSeedingBatchSampler(batch_sampler, seed,
                                                                    get_rank()))
