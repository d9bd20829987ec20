"""Faults in real training runs, as a cluster delivers them (``tools/train.py`` on the
embedded datasets, a small LITv2, data loaded by 2 persistent dataloader workers, the run in
a process group of its own): a SIGTERM or SIGUSR1 sent to the whole process group, as
torchrun's agent (``os.killpg``), slurm and Kubernetes send it, stops the run after the
iteration in flight with a checkpoint of it (exit status 75); a ``kill -9`` of the group loses
only what came after the last checkpoint; ``--resume`` then ends with the uninterrupted run's
weights, bitwise (the augmentations drawn in the workers are seeded per sample), for an
iteration-based config and for an epoch-based one stopped in the middle of an epoch (resumed
by mmdet's own tools/train.py). A gradient that turns NaN stops the run at that iteration,
before any checkpoint of NaN weights is written or named. The faults come from hooks at a
fixed iteration (tests/toy_training.py), so they happen at the same point whatever the
machine's speed."""
import signal

import pytest
import torch

from helpers import assert_same_weights, checkpoint_weights, with_fault

pytestmark = pytest.mark.slow  # trainings

SHRINK = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
val_dataloader = dict(dataset=dict(indices=2))
test_dataloader = dict(dataset=dict(indices=2))
"""
WORKERS = "train_dataloader = dict(num_workers=2, persistent_workers=True)\n"
ITERATIONS = SHRINK + WORKERS + """
train_cfg = dict(max_iters=4, val_interval=100)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=-1),
                     logger=dict(interval=1))
"""
EPOCHS = SHRINK + """
train_dataloader = dict(batch_size=2, num_workers=2, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True),
                        batch_sampler=dict(type='AspectRatioBatchSampler'),
                        dataset=dict(indices=4))
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=2,
                 val_interval=100)
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=-1),
                     logger=dict(interval=1))
randomness = dict(seed=None)  # as mmdet's configs: the seed comes from the command line
"""
SEED = ('--seed', '0')


@pytest.fixture(scope='module')
def sem_fpn(tmp_path_factory, tiny_config, ade_root, run_tool):
    """(config, final weights) of the uninterrupted iteration-based run."""
    tmp = tmp_path_factory.mktemp('faults')
    cfg = tiny_config(tmp, 'sem_fpn/litv2_s_synthetic.py', ITERATIONS)
    run_tool('train.py', cfg, '--work-dir', tmp / 'full', *SEED)
    return cfg, checkpoint_weights(tmp / 'full' / 'iter_4.pth')


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1], ids=['SIGTERM', 'SIGUSR1'])
def test_a_stop_signal_to_the_process_group_then_resume(tmp_path, tiny_config, run_tool, sem_fpn,
                                                        signum):
    cfg, full = sem_fpn
    stopped = tmp_path / 'stopped'
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, at_iter=3,
                                           signum=int(signum), to='group'),
                    '--work-dir', stopped, *SEED, check=False)
    assert proc.returncode == 75, proc.stdout[-3000:]
    assert f'{signum.name} received: stopped after iteration 3' in proc.stdout
    assert 'killed by signal' not in proc.stdout
    assert (stopped / 'last_checkpoint').read_text() == str(stopped / 'iter_3.pth')
    assert (stopped / 'preempted').read_text() == str(stopped / 'iter_3.pth')
    run_tool('train.py', cfg, '--work-dir', stopped, '--resume', *SEED)
    assert not (stopped / 'preempted').exists()
    assert_same_weights(checkpoint_weights(stopped / 'iter_4.pth'), full)


def test_kill_9_of_the_process_group_then_resume(tmp_path, tiny_config, run_tool, sem_fpn):
    cfg, full = sem_fpn
    killed = tmp_path / 'kill'
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, at_iter=4,
                                           signum=int(signal.SIGKILL), to='group'),
                    '--work-dir', killed, *SEED, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / 'iter_4.pth').exists()
    assert (killed / 'last_checkpoint').read_text() == str(killed / 'iter_2.pth')
    run_tool('train.py', cfg, '--work-dir', killed, '--resume', *SEED)
    assert_same_weights(checkpoint_weights(killed / 'iter_4.pth'), full)


def test_a_nan_gradient_stops_the_run_before_any_checkpoint_of_nan_weights(
        tmp_path, tiny_config, run_tool, sem_fpn):
    """Iteration 3's loss is finite, its gradient NaN: the step writes NaN into the weights.
    The run stops at iteration 3 (not at iteration 4's NaN loss), with checkpoints every
    iteration: none of iteration 3, and last_checkpoint names iteration 2's, all finite."""
    cfg = tiny_config(tmp_path, sem_fpn[0], """
default_hooks = dict(checkpoint=dict(interval=1))
""")
    work = tmp_path / 'work'
    fault = dict(type='NaNAtIterHook', at_iter=3, where='grad')
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, hook=fault),
                    '--work-dir', work, *SEED, check=False)
    assert proc.returncode != 0
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith('FloatingPointError: iteration 3: non-finite weights after the step')
    assert sorted(p.name for p in work.glob('*.pth')) == ['iter_1.pth', 'iter_2.pth']
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    for path in work.glob('*.pth'):
        assert all(torch.isfinite(t).all() for t in checkpoint_weights(path).values()), path


def test_sigterm_and_kill_9_of_the_group_mid_epoch_then_resume(
        tmp_path, tiny_config, coco_root, run_tool, run_library_tool, repo_root):
    """2 batches an epoch, 2 epochs; SIGTERM in iteration 3 (epoch 2, batch 1), resumed by
    mmdet's tools/train.py; kill -9 in iteration 4, resumed from epoch 1's checkpoint."""
    cfg = tiny_config(tmp_path, 'retinanet/litv2_s_1x_synthetic.py', EPOCHS)
    run_tool('train.py', cfg, '--work-dir', tmp_path / 'full', *SEED)
    full = checkpoint_weights(tmp_path / 'full' / 'epoch_2.pth')

    stopped = tmp_path / 'sigterm'
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, at_iter=3, to='group'),
                    '--work-dir', stopped, *SEED, check=False)
    assert proc.returncode == 75, proc.stdout[-3000:]
    meta = torch.load(stopped / 'iter_3.pth', weights_only=True)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 3)  # in the second epoch, after iteration 3
    # mmdet's tool has no --seed: the resumed run takes the checkpoint's before it builds
    out = run_library_tool('mmdet', 'train.py', cfg, '--work-dir', stopped, '--resume',
                           cwd=repo_root)
    assert 'resuming with the seed of the run in' in out
    assert 'Resuming after 1 trained batches' in out
    assert_same_weights(checkpoint_weights(stopped / 'epoch_2.pth'), full)

    killed = tmp_path / 'kill'
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, at_iter=4,
                                           signum=int(signal.SIGKILL), to='group'),
                    '--work-dir', killed, *SEED, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert (killed / 'last_checkpoint').read_text() == str(killed / 'epoch_1.pth')
    run_tool('train.py', cfg, '--work-dir', killed, '--resume')
    assert_same_weights(checkpoint_weights(killed / 'epoch_2.pth'), full)
