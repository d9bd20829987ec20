"""Detectors and segmentors built from the repo configs (tiny LITv2 widths) run in eval mode
on any image size, from 1 x 1 up; the backbone alone takes 1333 x 800."""
import os.path as osp

import pytest
import torch

from litv2_mm.apis import init_model
from litv2_mm.config import load_config

from helpers import TINY
from helpers import TINY_WIDTHS as WIDTHS


def build(repo_root, name):
    cfg = load_config(osp.join(repo_root, 'configs', name))
    cfg.model.backbone.arch = TINY
    if 'neck' in cfg.model and 'in_channels' in cfg.model.neck:
        cfg.model.neck.in_channels = WIDTHS
    if cfg.default_scope == 'mmseg' and 'neck' not in cfg.model:
        cfg.model.decode_head.in_channels = WIDTHS
        cfg.model.auxiliary_head.in_channels = WIDTHS[2]
    return init_model(cfg)


def det_batch(h, w):
    from mmdet.structures import DetDataSample
    sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                         scale_factor=(1., 1.)))
    return dict(inputs=[torch.randint(0, 255, (3, h, w), dtype=torch.uint8)],
                data_samples=[sample])


def seg_batch(h, w):
    from mmseg.structures import SegDataSample
    sample = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w)))
    return dict(inputs=[torch.randint(0, 255, (3, h, w), dtype=torch.uint8)],
                data_samples=[sample])


SIZES = [(1, 1), (7, 13), (33, 47), (97, 64)]


@pytest.mark.parametrize('name', ['retinanet/litv2_s_1x.py', 'mask_rcnn/litv2_s_ws4_1x.py',
                                  'sem_fpn/litv2_s_512x512_80k_ade20k.py',
                                  'upernet/litv2_s_512x512_160k_ade20k.py'])
def test_eval_on_odd_sizes(repo_root, name):
    model = build(repo_root, name)
    make = det_batch if name.startswith(('retinanet', 'mask_rcnn')) else seg_batch
    for h, w in SIZES:
        with torch.no_grad():
            out = model.test_step(make(h, w))
        assert len(out) == 1


def test_backbone_at_1333x800():
    from litv2_mm.models import LITv2
    model = LITv2(arch=TINY).eval()
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 800, 1333))
    assert [tuple(o.shape[2:]) for o in outs] == [(200, 334), (100, 167), (50, 83), (25, 41)]
