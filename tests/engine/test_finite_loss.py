"""A non-finite loss stops the run at its first iteration, named (iteration, terms, learning
rate, what to try), before a checkpoint of the diverged weights is written: the last good
checkpoint is kept. ``on_nonfinite='warn'`` goes on (here set by a config of an earlier
version, ``nonfinite_loss='warn'``, which still works). The NaN comes from the config (a
loss weight of NaN), so it is there at a known iteration whatever the machine."""
import pytest

pytestmark = pytest.mark.slow  # trainings

SHRINK = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1, max_keep_ckpts=1),
                     logger=dict(interval=1))
"""
SMALL_VAL = ['val_dataloader.dataset.indices=2', 'test_dataloader.dataset.indices=2',
             'train_cfg.val_interval=100']


def test_a_nan_loss_stops_the_run_and_keeps_the_last_good_checkpoint(
        tmp_path, tiny_config, ade_root, run_tool):
    cfg = tiny_config(tmp_path, 'sem_fpn/litv2_s_synthetic.py', SHRINK)
    work = tmp_path / 'work'
    run_tool('train.py', cfg, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2',
             *SMALL_VAL)
    good = (work / 'iter_2.pth').read_bytes()
    proc = run_tool('train.py', cfg, '--work-dir', work, '--resume', '--cfg-options',
                    'train_cfg.max_iters=4', 'model.decode_head.loss_decode.loss_weight=nan',
                    *SMALL_VAL, check=False)
    assert proc.returncode != 0
    last = proc.stdout.strip().splitlines()[-1]
    assert last.startswith('FloatingPointError: iteration 3: non-finite loss on rank(s) [0] (')
    assert 'decode.loss_ce=nan' in last and 'learning rate' in last and '--resume' in last
    # no checkpoint of the diverged weights; the last good one is still there, unchanged
    assert not (work / 'iter_3.pth').exists()
    assert (work / 'iter_2.pth').read_bytes() == good


def test_warn_goes_on(tmp_path, tiny_config, ade_root, run_tool):
    cfg = tiny_config(tmp_path, 'sem_fpn/litv2_s_synthetic.py', SHRINK)
    work = tmp_path / 'work'
    out = run_tool('train.py', cfg, '--work-dir', work, '--cfg-options', 'train_cfg.max_iters=2',
                   'model.decode_head.loss_decode.loss_weight=nan', 'nonfinite_loss=warn',
                   *SMALL_VAL).stdout
    assert 'the config key nonfinite_loss is deprecated' in out
    assert 'iteration 1: non-finite loss' in out and (work / 'iter_2.pth').exists()
