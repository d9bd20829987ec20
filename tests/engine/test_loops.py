"""ResumableIterBasedTrainLoop, ResumableEpochBasedTrainLoop + ExactResumeHook: a run
resumed mid-way (an iteration-based one, an epoch-based one in the middle of an epoch) ends
with the same weights as the uninterrupted run, and loads no data for the batches it skips
(also with worker processes, in the same order)."""
import pytest
import torch
from mmengine.runner import Runner
from toy_training import FINITE, INFINITE, assert_same_runs, loads, run


@pytest.mark.slow  # trainings
@pytest.mark.parametrize('sampler,size', [(INFINITE, 1000), (FINITE, 4)])
def test_resumed_run_ends_with_the_same_weights_and_loads_only_what_it_trains(
        tmp_path, sampler, size):
    full = run(tmp_path / 'full', tmp_path / 'full.log', sampler, max_iters=6, size=size)
    run(tmp_path / 'part', tmp_path / 'part.log', sampler, max_iters=3, size=size)
    resumed = run(tmp_path / 'part', tmp_path / 'resumed.log', sampler, max_iters=6,
                  resume=True, size=size)
    assert full.model.seen[6:] == resumed.model.seen  # iterations 4-6, in order
    assert loads(tmp_path / 'resumed.log') == full.model.seen[6:]  # nothing skipped was loaded
    assert_same_runs(full, resumed)
    # the uninterrupted run's iterations 4-6 drew the same random numbers as the resumed run
    assert loads(tmp_path / 'full.log')[6:] == loads(tmp_path / 'resumed.log')


@pytest.mark.slow
def test_workers_keep_the_order_and_skip_without_loading(tmp_path):
    full = run(tmp_path / 'full', tmp_path / 'full.log', max_iters=6, workers=2)
    run(tmp_path / 'part', tmp_path / 'part.log', max_iters=3, workers=2)
    resumed = run(tmp_path / 'part', tmp_path / 'resumed.log', max_iters=6, resume=True,
                  workers=2)
    assert resumed.model.seen == full.model.seen[6:]
    skipped = set(full.model.seen[:6])  # 6 distinct indices of 1000
    assert not skipped & set(loads(tmp_path / 'resumed.log'))


@pytest.mark.slow
@pytest.mark.parametrize('stop', [5, 3])  # in epoch 2 / the last batch of epoch 1
def test_epoch_loop_resumed_mid_epoch_trains_only_the_rest_of_it(tmp_path, stop):
    """3 batches an epoch, 3 epochs; a checkpoint after iteration ``stop`` (an iteration
    checkpoint in an epoch-based run, as a preemption writes), resumed: same weights as the
    uninterrupted run, and the resumed run loads only the batches after ``stop``."""
    every_iter = dict(by_epoch=False, interval=1)
    full = run(tmp_path / 'full', tmp_path / 'full.log', FINITE, max_epochs=3, size=6,
               checkpoint=every_iter)
    part = tmp_path / 'part'
    run(part, tmp_path / 'part.log', FINITE, max_epochs=3, size=6, checkpoint=every_iter)
    (part / 'last_checkpoint').write_text(str(part / f'iter_{stop}.pth'))
    resumed = run(part, tmp_path / 'resumed.log', FINITE, max_epochs=3, size=6, resume=True,
                  checkpoint=every_iter)
    assert resumed.model.seen == full.model.seen[2 * stop:]
    assert loads(tmp_path / 'resumed.log') == full.model.seen[2 * stop:]
    assert_same_runs(full, resumed)
    assert (resumed.iter, resumed.epoch) == (9, 3)


@pytest.mark.slow
def test_mmengine_epoch_loop_trains_the_first_part_of_the_epoch_again(tmp_path):
    """The control: mmengine's EpochBasedTrainLoop, resumed after iteration 5 (epoch 2,
    batch 2 of 3), starts epoch 2 again: it trains 2 batches twice and ends elsewhere."""
    every_iter = dict(by_epoch=False, interval=1)
    kwargs = dict(sampler=FINITE, max_epochs=3, size=6, checkpoint=every_iter,
                  loop='EpochBasedTrainLoop')
    full = run(tmp_path / 'full', tmp_path / 'full.log', **kwargs)
    part = tmp_path / 'part'
    run(part, tmp_path / 'part.log', **kwargs)
    (part / 'last_checkpoint').write_text(str(part / 'iter_5.pth'))
    resumed = run(part, tmp_path / 'resumed.log', resume=True, **kwargs)
    assert len(resumed.model.seen) == 2 * 6  # epochs 2 and 3 whole: batches 4, 5 twice
    assert any(not torch.equal(v, resumed.model.state_dict()[k])
               for k, v in full.model.state_dict().items())


@pytest.mark.slow
def test_mmengine_loop_replays_the_skipped_batches(tmp_path):
    """The cost the loop removes (mmengine issues #1520, #1633): a control run."""
    run(tmp_path / 'part', tmp_path / 'part.log', max_iters=3)
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


def test_an_infinite_sampler_in_an_epoch_based_run_is_named(tmp_path):
    with pytest.raises(ValueError, match='train_dataloader.sampler is an InfiniteSampler'):
        run(tmp_path, tmp_path / 'log', INFINITE, max_epochs=1)
