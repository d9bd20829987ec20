"""Helpers shared by the tests (imported as ``from helpers import ...``; pytest puts this
folder on the import path for its conftest.py)."""
import os
import os.path as osp
import signal
import subprocess

import pytest
import torch

# The repository's root folder (this file is tests/helpers.py): the one definition that the
# ``repo_root`` fixture (conftest.py) returns and module-level values (parametrize lists) use.
REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))

# A LITv2 small enough for fast tests that still has every part: 4 stages, attention in
# stages 3 and 4 (the default window_size), two blocks in stage 3.
TINY = dict(embed_dims=16, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))
TINY_WIDTHS = [16, 32, 64, 128]
# The backbone of the end-to-end configs (``tiny_config``): wide enough to learn a little.
TRAIN_ARCH = dict(embed_dims=32, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8))

# The short trainings of the end-to-end tests (``trained_retinanet``, ``trained_sem_fpn`` in
# conftest.py), deltas over configs/retinanet/litv2_s_1x_synthetic.py and
# configs/sem_fpn/litv2_s_synthetic.py for ``tiny_config``.
RETINANET_ITERS = 160
RETINANET_SHORT = f"""
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_dataloader = dict(batch_size=4)
train_cfg = dict(max_iters={RETINANET_ITERS}, val_interval={RETINANET_ITERS})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
default_hooks = dict(checkpoint=dict(interval={RETINANET_ITERS}), logger=dict(interval=20))
"""
SEM_FPN_ITERS = 120
SEM_FPN_SHORT = f"""
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_iters={SEM_FPN_ITERS}, val_interval={SEM_FPN_ITERS})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
                   dict(type='PolyLR', power=0.9, eta_min=0., by_epoch=False, begin=10,
                        end={SEM_FPN_ITERS})]
default_hooks = dict(checkpoint=dict(interval={SEM_FPN_ITERS}), logger=dict(interval=20))
"""

# UperNet the same way (configs/upernet/litv2_s_synthetic.py): the deployment tests' trained
# UperNet (``trained_upernet``), its heads narrowed to the small backbone
UPERNET_ITERS = 120
UPERNET_SHORT = f"""
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             decode_head=dict(in_channels=tiny_widths, channels=64),
             auxiliary_head=dict(in_channels=tiny_widths[2], channels=32))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_cfg = dict(max_iters={UPERNET_ITERS}, val_interval={UPERNET_ITERS})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
                   dict(type='PolyLR', power=0.9, eta_min=0., by_epoch=False, begin=10,
                        end={UPERNET_ITERS})]
default_hooks = dict(checkpoint=dict(interval={UPERNET_ITERS}), logger=dict(interval=20))
"""


def skip_unless_cpu_bf16(dtype=torch.bfloat16):
    """Skip a bf16 case on a CPU whose oneDNN has no bf16 kernels (it needs avx512bw/vl/dq or
    avx_ne_convert: a plain AVX2 CPU refuses bf16 convolutions); other dtypes run."""
    from litv2_mm.models.cpu_inference import cpu_bf16
    if str(dtype) in ('bf16', 'bfloat16', 'torch.bfloat16') and cpu_bf16() == 'none':
        pytest.skip('this CPU has no oneDNN bf16 kernels (AVX2 only)')


def assert_rel_close(a, b, tol=1e-5, msg=''):
    """max |a - b| within ``tol`` of max |b| (relative agreement over a whole tensor)."""
    err = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-12)
    assert err <= tol, f'{msg}: relative difference {err:.2e} > {tol:.0e}'


def expected_hw(H, W):
    """Map sizes of LITv2's four stages for an H x W image: ceil(H / 4) rows in stage 1,
    then halved (rounded down, at least 1) by every token merging."""
    h, w = -(-H // 4), -(-W // 4)
    sizes = []
    for _ in range(4):
        sizes.append((h, w))
        h, w = max(h // 2, 1), max(w // 2, 1)
    return sizes


def with_fault(tmp_dir, tiny_config, cfg, hook=None, **signal_args):
    """A config inheriting ``cfg`` with a fault hook of tests/toy_training.py added to the
    hooks every config declares: ``hook`` (a hook config), or ``SignalAtIterHook(
    **signal_args)`` (a signal at a fixed iteration)."""
    from mmengine.config import Config
    hooks = [*Config.fromfile(cfg).custom_hooks,
             hook or dict(type='SignalAtIterHook', **signal_args)]
    return tiny_config(tmp_dir, cfg, f"custom_imports = dict(imports=['litv2_mm', "
                       f"'toy_training'], allow_failed_imports=False)\ncustom_hooks = {hooks!r}\n")


def checkpoint_weights(path):
    """The model weights of a checkpoint file."""
    import torch
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def assert_same_weights(a, b):
    """Two state dicts with the same keys and bitwise equal tensors."""
    import torch
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


def _descendants(root):
    """Every process below ``root`` (its children, theirs...), read from /proc."""
    children = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open(f'/proc/{entry}/stat') as f:
                ppid = int(f.read().rsplit(')', 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry))
    found, todo = [], [root]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def kill_process_tree(root):
    """SIGKILL ``root``, its process group and every process below it, also those in
    sessions of their own (torchrun starts each worker in one; killing the launcher's
    process group leaves them running)."""
    for pid in [root, *_descendants(root)]:
        for kill in (lambda: os.killpg(os.getpgid(pid), signal.SIGKILL),
                     lambda: os.kill(pid, signal.SIGKILL)):
            try:
                kill()
            except (ProcessLookupError, PermissionError):
                pass


def run_process(cmd, *, timeout, **kwargs):
    """``subprocess.run(cmd)`` as a launcher runs a job: in a session (process group) of its
    own, stdout and stderr merged as text. A run that does not end in ``timeout`` seconds
    fails the test with its output, after every process it started has been killed
    (:func:`kill_process_tree`): nothing is left running."""
    proc = subprocess.Popen(cmd, start_new_session=True, text=True, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, **kwargs)
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process_tree(proc.pid)
        out, _ = proc.communicate()
        pytest.fail(f'{" ".join(map(str, cmd))} did not end in {timeout} s; every process it '
                    f'started was killed. Its output:\n{out[-6000:]}')
    except BaseException:
        kill_process_tree(proc.pid)
        raise
    return subprocess.CompletedProcess(cmd, proc.returncode, out)


def run_command(cmd, *, cwd=REPO_ROOT, env=None, timeout=900, check=True):
    """Run ``cmd`` (its items as strings) from ``cwd`` with this environment and ``env``'s
    variables set over it (a value of None removes the variable), through
    :func:`run_process` (stdout and stderr merged; a run that does not end in ``timeout``
    seconds fails the test, every process it started killed). Fails the test with the end of
    the output on a non-zero exit unless ``check`` is false; returns the CompletedProcess."""
    cmd = [str(arg) for arg in cmd]
    full_env = dict(os.environ, **(env or {}))
    full_env = {k: v for k, v in full_env.items() if v is not None}
    proc = run_process(cmd, cwd=cwd, env=full_env, timeout=timeout)
    if check and proc.returncode != 0:
        pytest.fail(f'{" ".join(cmd)} exited {proc.returncode}:\n{proc.stdout[-6000:]}')
    return proc
