"""Distributed training through torchrun and mmengine's launcher, 2 CPU processes (gloo):
a plain run, a worker killed mid-run (torchrun's elastic restart resumes from the latest
checkpoint and ends with the plain run's weights) and a SIGTERM that reaches one rank (all
ranks stop at the same iteration with a whole checkpoint; ``--resume`` ends with the plain
run's weights)."""
import os
import os.path as osp
import signal
import subprocess

import pytest
import torch

from helpers import assert_same_weights, checkpoint_weights, with_fault

pytestmark = pytest.mark.slow  # end to end: see pyproject.toml

DIST_CFG = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
train_dataloader = dict(batch_size=2)
train_cfg = dict(max_iters=4, val_interval=100)
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=-1), logger=dict(interval=1))
"""


def dist_train(repo_root, cfg, work, *args, port, restarts=3):
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1', MAX_RESTARTS=str(restarts),
               PYTHONPATH=osp.join(repo_root, 'tests'))
    return subprocess.run(
        ['bash', osp.join(repo_root, 'tools', 'dist_train.sh'), cfg, '2', '--work-dir',
         str(work), '--cfg-options', 'env_cfg.dist_cfg.backend=gloo', *args],
        cwd=repo_root, env=env, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        timeout=900)


@pytest.fixture(scope='module')
def plain(tmp_path_factory, ade_root, repo_root, tiny_config):
    """The uninterrupted 2-process run: (config, final weights)."""
    tmp = tmp_path_factory.mktemp('plain')
    cfg = tiny_config(tmp, 'sem_fpn/litv2_s_synthetic.py', DIST_CFG)
    proc = dist_train(repo_root, cfg, tmp / 'work', port=29533)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert 'Distributed training: True' in proc.stdout
    return cfg, checkpoint_weights(tmp / 'work' / 'iter_4.pth')


def test_dist_train_two_cpu_processes(plain):
    assert plain[1]


def test_a_killed_worker_is_restarted_and_the_run_ends_as_the_plain_one(
        tmp_path, repo_root, tiny_config, plain):
    cfg = with_fault(tmp_path, tiny_config, plain[0], at_iter=3, signum=int(signal.SIGKILL),
                     rank=1)
    proc = dist_train(repo_root, cfg, tmp_path / 'work', port=29534)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert 'torchrun restarted this worker (1 restarts): resuming from' in proc.stdout
    assert proc.stdout.count('iter_2.pth') >= 1
    assert_same_weights(checkpoint_weights(tmp_path / 'work' / 'iter_4.pth'), plain[1])


def test_a_sigterm_on_one_rank_stops_every_rank_at_the_same_iteration(
        tmp_path, repo_root, tiny_config, plain):
    cfg = with_fault(tmp_path, tiny_config, plain[0], at_iter=3, rank=1)
    work = tmp_path / 'work'
    proc = dist_train(repo_root, cfg, work, port=29535, restarts=0)
    assert proc.returncode != 0
    assert proc.stdout.count('exitcode  : 75') == 2, proc.stdout[-5000:]  # both ranks
    assert 'SIGTERM received: stopped after iteration 3' in proc.stdout
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_3.pth')
    assert torch.load(work / 'iter_3.pth', weights_only=True)['meta']['iter'] == 3
    proc = dist_train(repo_root, plain[0], work, '--resume', port=29535)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert_same_weights(checkpoint_weights(work / 'iter_4.pth'), plain[1])
