"""Shared fixtures: the embedded datasets (generated once per session) and repo paths."""
import os
import os.path as osp

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


@pytest.fixture(scope='session')
def repo_root():
    return REPO


@pytest.fixture(scope='session')
def coco_root():
    """The embedded COCO-format set at its default location (generated when missing)."""
    from litv2_mm.data import ensure_coco
    return ensure_coco(osp.join(REPO, 'data', 'generated', 'coco'))


@pytest.fixture(scope='session')
def ade_root():
    """The embedded ADE20K-format set at its default location (generated when missing)."""
    from litv2_mm.data import ensure_ade
    return ensure_ade(osp.join(REPO, 'data', 'generated', 'ade'))
