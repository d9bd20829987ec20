"""Distributed training through torchrun and mmengine's launcher, 2 CPU processes (gloo), as
a cluster runs it: data loaded by 2 persistent dataloader workers per rank, the job in a
process group of its own, every process of a run the test gives up on killed
(``helpers.run_process``). A plain run; a worker killed mid-run (torchrun's elastic restart
resumes from the latest checkpoint and ends with the plain run's weights); a SIGTERM to
torchrun's agent, which stops each worker with ``os.killpg`` (every rank stops at the same
iteration with a whole checkpoint, ``--resume`` ends with the plain run's weights); a NaN
loss on one rank only (every rank stops at that iteration, named; torchrun's restarts stop
at once instead of replaying it)."""
import os
import os.path as osp
import re
import signal

import pytest
import torch

from helpers import assert_same_weights, checkpoint_weights, run_process, with_fault

pytestmark = pytest.mark.slow  # end to end: see pyproject.toml

DIST_CFG = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
train_dataloader = dict(batch_size=2, num_workers=2, persistent_workers=True)
train_cfg = dict(max_iters=4, val_interval=100)
param_scheduler = []
default_hooks = dict(checkpoint=dict(interval=2, max_keep_ckpts=-1), logger=dict(interval=1))
"""


def dist_train(repo_root, cfg, work, *args, port, restarts=3, timeout=600):
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1', MAX_RESTARTS=str(restarts),
               PYTHONPATH=osp.join(repo_root, 'tests'))
    return run_process(
        ['bash', osp.join(repo_root, 'tools', 'dist_train.sh'), cfg, '2', '--work-dir',
         str(work), '--cfg-options', 'env_cfg.dist_cfg.backend=gloo', *args],
        cwd=repo_root, env=env, timeout=timeout)


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


def test_a_sigterm_to_torchrun_stops_every_rank_at_the_same_iteration(
        tmp_path, repo_root, tiny_config, plain):
    """Rank 1 sends SIGTERM to torchrun's agent in iteration 3 (as slurm or Kubernetes
    would); the agent sends SIGTERM to each worker's process group, dataloader workers
    included, and waits 30 s before SIGKILL."""
    cfg = with_fault(tmp_path, tiny_config, plain[0], at_iter=3, rank=1, to='launcher')
    work = tmp_path / 'work'
    proc = dist_train(repo_root, cfg, work, port=29535, restarts=0)
    assert proc.returncode != 0
    assert 'killed by signal' not in proc.stdout, proc.stdout[-5000:]
    assert 'SIGTERM received: stopped after iteration 3' in proc.stdout, proc.stdout[-5000:]
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_3.pth')
    assert torch.load(work / 'iter_3.pth', weights_only=True)['meta']['iter'] == 3
    assert len(torch.load(work / 'iter_3.pth', weights_only=True)['rng_states']) == 2
    proc = dist_train(repo_root, plain[0], work, '--resume', port=29535)
    assert proc.returncode == 0, proc.stdout[-5000:]
    assert_same_weights(checkpoint_weights(work / 'iter_4.pth'), plain[1])


def test_a_sigterm_on_one_rank_stops_every_rank_at_the_same_iteration(
        tmp_path, repo_root, tiny_config, plain):
    """SIGTERM to rank 1's process group (rank 1 and its dataloader workers) only."""
    cfg = with_fault(tmp_path, tiny_config, plain[0], at_iter=3, rank=1, to='group')
    work = tmp_path / 'work'
    proc = dist_train(repo_root, cfg, work, port=29536, restarts=0)
    assert proc.returncode != 0
    # the first rank to end (torchrun's root cause) ended with 75; the other ended with 75 too
    # or, when it was still leaving (after the barrier that follows the checkpoint), by the
    # SIGTERM torchrun then sends it (-15): which of the two is a matter of timing
    root_cause = proc.stdout.split('Root Cause', 1)[-1]
    assert re.search(r'exitcode\s*: 75\b', root_cause), proc.stdout[-5000:]
    assert set(re.findall(r'exitcode\s*: (-?\d+)', proc.stdout)) <= {'75', '-15'}, \
        proc.stdout[-5000:]
    assert 'killed by signal' not in proc.stdout
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_3.pth')
    # both ranks were in iteration 3's checkpoint (their random states gathered there)
    assert len(torch.load(work / 'iter_3.pth', weights_only=True)['rng_states']) == 2


def test_a_nan_loss_on_one_rank_stops_every_rank_and_is_not_replayed(
        tmp_path, repo_root, tiny_config, plain):
    cfg = with_fault(tmp_path, tiny_config, plain[0],
                     hook=dict(type='NaNAtIterHook', at_iter=3, rank=1))
    work = tmp_path / 'work'
    proc = dist_train(repo_root, cfg, work, port=29537, restarts=2)
    assert proc.returncode != 0
    out = proc.stdout
    assert 'FloatingPointError: iteration 3: non-finite loss on rank(s) [1]' in out, out[-5000:]
    # rank 0, whose loss was finite, stopped at iteration 3 too, naming rank 1 (torchrun may
    # stop a rank before it prints its error, so the marker rank 0 wrote tells)
    assert 'iteration 3: non-finite loss on rank(s) [1]' in (work / 'diverged').read_text()
    # each of the 2 restarts stopped at once, naming the divergence; nothing was trained again
    assert out.count('not restarting: this run diverged') >= 2
    assert 'Iter(train) [3/4]' not in out
    assert (work / 'last_checkpoint').read_text() == str(work / 'iter_2.pth')
    assert not (work / 'iter_3.pth').exists()
