"""Augmentations seeded per sample: what a sample draws depends only on (run seed, rank,
epoch, position), never on the worker that loads it, on ``num_workers`` or on what was
loaded before; a dataloader positioned after N batches (a resumed run) loads the batches
the uninterrupted one loaded, with worker processes too."""
import pickle
import random

import numpy as np
import pytest
import torch
from mmengine.dataset import BaseDataset, DefaultSampler, InfiniteSampler
from torch.utils.data import BatchSampler, DataLoader

from litv2_mm.engine import (SampleKey, SampleSeedingBatchSampler, SeededPipeline, sample_seed,
                             seed_every_sample)
from litv2_mm.engine.loops import skip_batches


def augment(results):
    """A random 'augmentation' drawing from all three global generators."""
    results['aug'] = (random.random(), float(np.random.rand()), float(torch.rand(())))
    return results


class RandomAugmentDataset(BaseDataset):
    """mmengine's BaseDataset of ``n`` items whose pipeline draws random numbers."""

    def __init__(self, n=12):
        self.n = n
        super().__init__(pipeline=[augment], serialize_data=False)

    def load_data_list(self):
        return [dict(item=i) for i in range(self.n)]


def loader(workers, sampler=None, batch_size=2):
    dataset = RandomAugmentDataset()
    sampler = sampler or DefaultSampler(dataset, shuffle=True, seed=3)
    return DataLoader(dataset, batch_sampler=BatchSampler(sampler, batch_size, drop_last=False),
                      num_workers=workers, collate_fn=list,
                      persistent_workers=workers > 0)


def batches(dataloader, count=None):
    out = []
    for batch in dataloader:
        out.append([(r['item'], r['sample_idx'], r['aug']) for r in batch])
        if count is not None and len(out) == count:
            break
    return out


def test_a_sample_key_carries_its_seed_through_pickling():
    key = SampleKey(5, seed=123)
    copy = pickle.loads(pickle.dumps([key]))[0]
    assert copy == 5 and copy.seed == 123 and isinstance(copy, SampleKey)
    assert [10, 11, 12, 13, 14, 15][key] == 15


def test_seeds_differ_by_every_part_of_the_key():
    seeds = {sample_seed(s, r, e, p) for s in (0, 1) for r in (0, 1) for e in (0, 1)
             for p in range(50)}
    assert len(seeds) == 400


def test_the_pipeline_draws_from_the_samples_seed_and_leaves_the_process_state():
    pipeline = SeededPipeline(augment)
    torch.manual_seed(1)
    state = torch.get_rng_state()
    a = pipeline(dict(sample_idx=SampleKey(4, seed=9)))
    np.random.rand(5)  # whatever ran before
    b = pipeline(dict(sample_idx=SampleKey(4, seed=9)))
    assert a['aug'] == b['aug'] and a['sample_idx'] == 4 and type(a['sample_idx']) is int
    assert pipeline(dict(sample_idx=SampleKey(4, seed=10)))['aug'] != a['aug']
    assert torch.equal(torch.get_rng_state(), state)  # the process's generators untouched
    np.random.seed(0)
    plain = pipeline(dict(sample_idx=4))['aug']  # no key: draws from the process's state
    np.random.seed(0)
    assert augment({})['aug'][1] == plain[1]


@pytest.mark.parametrize('workers', [0, 2])
def test_what_is_loaded_does_not_depend_on_the_workers(workers):
    reference = batches(seed_every_sample(loader(0), seed=7))
    torch.manual_seed(123)  # other process states: nothing changes
    np.random.seed(123)
    seeded = seed_every_sample(loader(workers), seed=7)
    assert batches(seeded) == reference
    assert len({b[2] for batch in reference for b in batch}) == 12  # every sample its own draw
    seeded.batch_sampler.sampler.set_epoch(1)
    assert batches(seeded) != reference  # another epoch, other draws


@pytest.mark.parametrize('infinite', [False, True])
def test_a_resumed_loader_loads_what_the_uninterrupted_one_loaded(infinite):
    """Positioned after 4 batches (indices only), with 2 workers: the next batches are the
    uninterrupted run's, augmentations included (the worker states are new)."""
    def make():
        dataset_loader = loader(2)
        if infinite:
            dataset_loader = loader(2, InfiniteSampler(dataset_loader.dataset, seed=3))
        return seed_every_sample(dataset_loader, seed=7)

    full = batches(make(), count=9)
    resumed = batches(skip_batches(make(), 4), count=5)
    assert resumed == full[4:]


def test_unsupported_datasets_are_named_where_workers_load_them(monkeypatch):
    logged = []
    monkeypatch.setattr('litv2_mm.engine.sample_seeding.print_log',
                        lambda message, **kwargs: logged.append(message))

    class Plain(torch.utils.data.Dataset):
        def __len__(self):
            return 4

        def __getitem__(self, i):
            return i

    data = DataLoader(Plain(), batch_size=2, num_workers=2)
    assert seed_every_sample(data, seed=0) is data
    assert 'Plain has no pipeline of its own' in logged[0]
    assert seed_every_sample(loader(2), seed=None).batch_sampler.__class__ is BatchSampler
    assert isinstance(seed_every_sample(loader(2), seed=1).batch_sampler,
                      SampleSeedingBatchSampler)
