"""Distributed training through torchrun and mmengine's launcher, 2 CPU processes (gloo)."""
import os
import subprocess

import pytest

pytestmark = pytest.mark.slow  # end to end: see pyproject.toml

DIST_CFG = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
train_dataloader = dict(batch_size=2)
train_cfg = dict(max_iters=4, val_interval=100)
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=4), logger=dict(interval=1))
"""


def test_dist_train_two_cpu_processes(tmp_path, ade_root, repo_root, tiny_config):
    cfg = tiny_config(tmp_path, 'sem_fpn/litv2_s_synthetic.py', DIST_CFG)
    env = dict(os.environ, PORT='29533', OMP_NUM_THREADS='1')
    proc = subprocess.run(
        ['bash', os.path.join(repo_root, 'tools', 'dist_train.sh'), cfg, '2',
         '--work-dir', str(tmp_path / 'work'),
         '--cfg-options', 'env_cfg.dist_cfg.backend=gloo'],
        cwd=repo_root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=900)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert 'Distributed training: True' in proc.stdout
    assert (tmp_path / 'work' / 'iter_4.pth').exists()
