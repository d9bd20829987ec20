"""Shared fixtures: the embedded datasets (generated once per session) and repo paths."""
import os
import os.path as osp

import pytest
import torch

from helpers import (REPO_ROOT, RETINANET_ITERS, RETINANET_SHORT, SEM_FPN_ITERS, SEM_FPN_SHORT,
                     TRAIN_ARCH, UPERNET_ITERS, UPERNET_SHORT, run_command)

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


def pytest_collection_modifyitems(config, items):
    """Tests marked ``openvino_in_process`` run after all others: OpenVINO's thread pool does
    not survive a fork, so a DataLoader worker forked after it may crash (a slow run crashed
    so in test_loops after whole models ran in OpenVINO in-process; NNCF's own examples set
    num_workers=0 for it: openvinotoolkit/nncf#2955)."""
    items.sort(key=lambda item: item.get_closest_marker('openvino_in_process') is not None)


@pytest.fixture(autouse=True)
def seeded():
    """Every test starts from the same random states (Python, numpy, torch), whatever ran
    before it and in which order: a test's random inputs and initialisations are the same on
    every run, so its outcome never depends on chance."""
    import random

    import numpy as np
    random.seed(0)
    np.random.seed(0)
    torch.manual_seed(0)


@pytest.fixture(autouse=True)
def clean_default_scope():
    """Clear mmengine's default scopes after every test, failed or not, so that a scope one
    test sets (``init_default_scope``, a runner) does not leak into the next."""
    yield
    from mmengine.registry import DefaultScope
    DefaultScope._instance_dict.clear()


@pytest.fixture(scope='session')
def repo_root():
    """The repository's root folder (``helpers.REPO_ROOT``)."""
    return REPO_ROOT


@pytest.fixture(scope='session')
def coco_root():
    """The embedded COCO-format set at its default location (generated when missing)."""
    from litv2_mm.synthetic_data import ensure_coco
    return ensure_coco(osp.join(REPO_ROOT, 'data', 'generated', 'coco'))


@pytest.fixture(scope='session')
def ade_root():
    """The embedded ADE20K-format set at its default location (generated when missing)."""
    from litv2_mm.synthetic_data import ensure_ade
    return ensure_ade(osp.join(REPO_ROOT, 'data', 'generated', 'ade'))


@pytest.fixture(scope='session')
def coco2017_root():
    """A tiny set in the COCO-2017 layout (80 categories; 2 train / 2 val images)."""
    from litv2_mm.synthetic_data import ensure_coco2017
    return ensure_coco2017(osp.join(REPO_ROOT, 'data', 'generated', 'coco2017'),
                           num_train=2, num_val=2)


@pytest.fixture(scope='session')
def ade20k_root():
    """The ADEChallengeData2016 folder of a tiny ADE20K-layout set (2 train / 2 val images)."""
    from litv2_mm.synthetic_data import ensure_ade20k
    return ensure_ade20k(osp.join(REPO_ROOT, 'data', 'generated', 'ade20k'), num_train=2, num_val=2)


@pytest.fixture(scope='session')
def imagenet_root():
    """A tiny ImageNet-layout set of 4 shape classes (4 train / 2 val images per class)."""
    from litv2_mm.synthetic_data import ensure_imagenet
    return ensure_imagenet(osp.join(REPO_ROOT, 'data', 'generated', 'imagenet'),
                           num_train=4, num_val=2)


@pytest.fixture(scope='session')
def run_tool():
    """Run ``python tools/<script> args...`` from the repo root with the repo and tests/ on
    PYTHONPATH (``helpers.run_command``, whose ``timeout``, ``check`` and ``env`` it takes);
    returns CompletedProcess (stdout and stderr merged) and fails the test with the output on
    a non-zero exit unless ``check=False``."""
    import sys

    def run(script, *args, env=None, **options):
        # the repo, and tests/ for hooks the tests inject (tests/toy_training.py)
        path = f'{REPO_ROOT}:{osp.join(REPO_ROOT, "tests")}'
        return run_command([sys.executable, osp.join(REPO_ROOT, 'tools', script), *args],
                           env={'PYTHONPATH': path, **(env or {})}, **options)

    return run


@pytest.fixture(scope='session')
def arch_model():
    """``arch_model('small')`` -> a LITv2 of that arch (random init, seed 0) in eval mode,
    built once per session: tests that only run it must not change it."""
    from litv2_mm.models import LITv2
    cache = {}

    def get(arch):
        if arch not in cache:
            torch.manual_seed(0)
            cache[arch] = LITv2(arch=arch).eval()
        return cache[arch]

    return get


@pytest.fixture(scope='session')
def run_library_tool():
    """Run ``python <lib>/.mim/tools/<script> args`` (mmdet's, mmseg's or mmpretrain's own
    tools, shipped in their packages) from ``cwd`` with this environment as it is
    (``helpers.run_command``, whose ``timeout`` it takes); fails the test on a non-zero exit
    with the end of the output, else returns the output."""
    import importlib
    import sys

    def run(lib, script, *args, cwd, **options):
        path = osp.join(osp.dirname(importlib.import_module(lib).__file__), '.mim', 'tools',
                        script)
        assert osp.isfile(path), path
        return run_command([sys.executable, path, *args], cwd=cwd, **options).stdout

    return run


@pytest.fixture(scope='session')
def tiny_config():
    """Write a config that inherits a repo config and shrinks the backbone (and the neck or
    heads that read its widths); returns its path."""
    counter = [0]

    def make(tmp_dir, base, extra=''):
        counter[0] += 1
        path = osp.join(str(tmp_dir), f'tiny_{counter[0]}.py')
        widths = [TRAIN_ARCH['embed_dims'] * 2 ** i for i in range(4)]
        with open(path, 'w') as f:
            f.write(f"_base_ = '{osp.join(REPO_ROOT, 'configs', base)}'\n"
                    f"tiny_arch = {TRAIN_ARCH!r}\n"
                    f"tiny_widths = {widths!r}\n")
            f.write(extra)
        return path

    return make


@pytest.fixture(scope='session')
def load_tool():
    """``load_tool('analysis/benchmark')`` -> the module tools/analysis/benchmark.py."""
    import importlib.util

    def load(name):
        spec = importlib.util.spec_from_file_location(
            'tool_' + name.replace('/', '_'), osp.join(REPO_ROOT, 'tools', f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def _train(tmp_path_factory, run_tool, tiny_config, name, base, delta, iters):
    tmp = tmp_path_factory.mktemp(name)
    cfg = tiny_config(tmp, base, delta)
    train = run_tool('train.py', cfg, '--work-dir', tmp / 'work', timeout=1500)
    return cfg, str(tmp / 'work' / f'iter_{iters}.pth'), train.stdout


@pytest.fixture(scope='session')
def trained_retinanet(tmp_path_factory, coco_root, run_tool, tiny_config):
    """(config, checkpoint, training output) of a RetinaNet with a small LITv2, trained
    briefly on the embedded COCO-format set (helpers.RETINANET_SHORT) once per session: the
    end-to-end and the deployment tests share it."""
    return _train(tmp_path_factory, run_tool, tiny_config, 'retinanet',
                  'retinanet/litv2_s_1x_synthetic.py', RETINANET_SHORT, RETINANET_ITERS)


@pytest.fixture(scope='session')
def trained_sem_fpn(tmp_path_factory, ade_root, run_tool, tiny_config):
    """(config, checkpoint, training output) of a Semantic FPN with a small LITv2, trained
    briefly on the embedded ADE20K-format set (helpers.SEM_FPN_SHORT), once per session."""
    return _train(tmp_path_factory, run_tool, tiny_config, 'sem_fpn',
                  'sem_fpn/litv2_s_synthetic.py', SEM_FPN_SHORT, SEM_FPN_ITERS)


@pytest.fixture(scope='session')
def trained_upernet(tmp_path_factory, ade_root, run_tool, tiny_config):
    """(config, checkpoint, training output) of an UperNet with a small LITv2, trained
    briefly on the embedded ADE20K-format set (helpers.UPERNET_SHORT), once per session."""
    return _train(tmp_path_factory, run_tool, tiny_config, 'upernet',
                  'upernet/litv2_s_synthetic.py', UPERNET_SHORT, UPERNET_ITERS)
