"""Faults in real training runs (``tools/train.py`` on the embedded datasets, a small LITv2):
a SIGTERM mid-run stops after the iteration in flight with a checkpoint of it (exit status
75), a ``kill -9`` loses only what came after the last checkpoint; ``--resume`` then ends
with the uninterrupted run's weights, bitwise, for an iteration-based config and for an
epoch-based one stopped in the middle of an epoch (resumed by mmdet's own tools/train.py).
The faults come from a hook at a fixed iteration (tests/toy_training.py), so they happen at
the same point whatever the machine's speed."""
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
ITERATIONS = SHRINK + """
train_cfg = dict(max_iters=4, val_interval=100)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2, max_keep_ckpts=-1),
                     logger=dict(interval=1))
"""
EPOCHS = SHRINK + """
train_dataloader = dict(batch_size=2, sampler=dict(type='DefaultSampler', shuffle=True),
                        batch_sampler=dict(type='AspectRatioBatchSampler'),
                        dataset=dict(indices=4))
train_cfg = dict(_delete_=True, type='ResumableEpochBasedTrainLoop', max_epochs=2,
                 val_interval=100)
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=-1),
                     logger=dict(interval=1))
"""


def test_sigterm_and_kill_mid_run_then_resume_iteration_based(
        tmp_path, tiny_config, ade_root, run_tool):
    cfg = tiny_config(tmp_path, 'sem_fpn/litv2_s_synthetic.py', ITERATIONS)
    seed = ('--seed', '0')
    run_tool('train.py', cfg, '--work-dir', tmp_path / 'full', *seed)
    full = checkpoint_weights(tmp_path / 'full' / 'iter_4.pth')

    stopped = tmp_path / 'sigterm'
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, at_iter=3), '--work-dir',
                    stopped, *seed, check=False)
    assert proc.returncode == 75, proc.stdout[-3000:]
    assert 'SIGTERM received: stopped after iteration 3' in proc.stdout
    assert (stopped / 'last_checkpoint').read_text() == str(stopped / 'iter_3.pth')
    out = run_tool('train.py', cfg, '--work-dir', stopped, '--resume', *seed).stdout
    assert 'Auto resumed from the latest checkpoint' in out or 'resumed' in out.lower()
    assert_same_weights(checkpoint_weights(stopped / 'iter_4.pth'), full)

    killed = tmp_path / 'kill'
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, at_iter=4,
                                           signum=int(signal.SIGKILL)),
                    '--work-dir', killed, *seed, check=False)
    assert proc.returncode == -signal.SIGKILL
    assert not (killed / 'iter_4.pth').exists()
    assert (killed / 'last_checkpoint').read_text() == str(killed / 'iter_2.pth')
    run_tool('train.py', cfg, '--work-dir', killed, '--resume', *seed)
    assert_same_weights(checkpoint_weights(killed / 'iter_4.pth'), full)


def test_sigterm_mid_epoch_then_resume_with_mmdet_train(
        tmp_path, tiny_config, coco_root, run_tool, run_library_tool, repo_root):
    """2 batches an epoch, 2 epochs; SIGTERM in iteration 3 (epoch 2, batch 1)."""
    cfg = tiny_config(tmp_path, 'retinanet/litv2_s_1x_synthetic.py', EPOCHS)
    run_tool('train.py', cfg, '--work-dir', tmp_path / 'full')
    full = checkpoint_weights(tmp_path / 'full' / 'epoch_2.pth')

    stopped = tmp_path / 'sigterm'
    proc = run_tool('train.py', with_fault(tmp_path, tiny_config, cfg, at_iter=3), '--work-dir',
                    stopped, check=False)
    assert proc.returncode == 75, proc.stdout[-3000:]
    meta = torch.load(stopped / 'iter_3.pth', weights_only=True)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 3)  # in the second epoch, after iteration 3
    out = run_library_tool('mmdet', 'train.py', cfg, '--work-dir', stopped, '--resume',
                           cwd=repo_root)
    assert 'Resuming after 1 trained batches' in out
    assert_same_weights(checkpoint_weights(stopped / 'epoch_2.pth'), full)
