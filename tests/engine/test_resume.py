"""A run killed after a checkpoint and resumed with --resume ends exactly like an
uninterrupted one: weights, optimizer state and logged losses (CPU, fixed seed)."""
import glob
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import torch

RESUME_CFG = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.2),
             neck=dict(in_channels=tiny_widths))
train_dataloader = dict(batch_size=2, sampler=dict(_delete_=True, type='DefaultSampler',
                                                   shuffle=True),
                        dataset=dict(indices=6))
train_cfg = dict(_delete_=True, type='EpochBasedTrainLoop', max_epochs=3, val_interval=100)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0., by_epoch=True, begin=0, end=3)]
default_hooks = dict(checkpoint=dict(by_epoch=True, interval=1, max_keep_ckpts=5),
                     logger=dict(interval=1))
log_processor = dict(by_epoch=True)
"""


def losses(work_dir):
    """(epoch, iter) -> logged loss, over every run in the work dir."""
    found = {}
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        for line in open(path):
            rec = json.loads(line)
            if 'loss' in rec:
                found[(rec['epoch'], rec['iter'])] = rec['loss']
    return found


def test_resume_after_kill_is_exact(tmp_path, ade_root, repo_root, run_tool, tiny_config):
    cfg = tiny_config(tmp_path, 'sem_fpn/litv2_s_synthetic.py', RESUME_CFG)
    full, killed = tmp_path / 'full', tmp_path / 'killed'
    run_tool('train.py', cfg, '--work-dir', full, timeout=900)

    env = dict(os.environ, PYTHONPATH=repo_root)
    proc = subprocess.Popen([sys.executable, osp.join(repo_root, 'tools', 'train.py'), cfg,
                             '--work-dir', str(killed)], cwd=repo_root, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 600
    while not (killed / 'last_checkpoint').exists():
        assert proc.poll() is None and time.time() < deadline, 'no checkpoint before the kill'
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / 'epoch_3.pth').exists()

    resumed = run_tool('train.py', cfg, '--work-dir', killed, '--resume', timeout=900)
    assert 'resumed epoch: ' in resumed.stdout

    a = torch.load(full / 'epoch_3.pth', map_location='cpu')  # safe loader: weights_only
    b = torch.load(killed / 'epoch_3.pth', map_location='cpu')
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for key, value in a['state_dict'].items():
        assert torch.equal(value, b['state_dict'][key]), key
    for pid, state in a['optimizer']['state'].items():
        for name, value in state.items():
            assert torch.equal(torch.as_tensor(value), torch.as_tensor(
                b['optimizer']['state'][pid][name])), (pid, name)
    logged_full, logged_killed = losses(full), losses(killed)
    assert logged_full and logged_full == logged_killed
