"""Every config loads and builds under its library's scope; sizes match the paper."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from litv2_mm.apis import init_model

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))
                 if '/_base_/' not in p)

# millions of parameters published by the authors
PUBLISHED = {
    'retinanet/litv2_s_1x.py': 38, 'retinanet/litv2_m_1x.py': 59, 'retinanet/litv2_b_1x.py': 97,
    'mask_rcnn/litv2_s_1x.py': 47, 'mask_rcnn/litv2_m_1x.py': 68, 'mask_rcnn/litv2_b_1x.py': 106,
    'sem_fpn/litv2_s_512x512_80k_ade20k.py': 31, 'sem_fpn/litv2_m_512x512_80k_ade20k.py': 52,
    'sem_fpn/litv2_b_512x512_80k_ade20k.py': 90,
    'classification/litv2_s_8xb128_in1k.py': 28, 'classification/litv2_m_8xb128_in1k.py': 49,
    'classification/litv2_b_8xb128_in1k.py': 87,
}


def rel(path):
    return osp.relpath(path, osp.join(REPO, 'configs'))


def test_configs_exist():
    names = {rel(p) for p in CONFIGS}
    for v in 'smb':
        for name in (f'retinanet/litv2_{v}_1x.py', f'retinanet/litv2_{v}_ws4_1x.py',
                     f'mask_rcnn/litv2_{v}_1x.py', f'mask_rcnn/litv2_{v}_ws4_1x.py',
                     f'upernet/litv2_{v}_512x512_160k_ade20k.py',
                     f'sem_fpn/litv2_{v}_512x512_80k_ade20k.py',
                     f'classification/litv2_{v}_8xb128_in1k.py'):
            assert name in names


@pytest.mark.parametrize('path', CONFIGS, ids=rel)
def test_config_builds(path):
    model = init_model(path)
    assert type(model.backbone).__name__ == 'LITv2'
    n = sum(p.numel() for p in model.parameters()) / 1e6
    if rel(path) in PUBLISHED:
        assert round(n) == PUBLISHED[rel(path)], f'{rel(path)}: {n:.2f}M parameters'


@pytest.mark.parametrize('name,lr', [('retinanet/litv2_s_1x.py', 1e-4),
                                     ('mask_rcnn/litv2_b_ws4_1x.py', 2e-4)])
def test_detection_recipe_is_the_papers(name, lr):
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=lr, betas=(0.9, 0.999),
                                               weight_decay=1e-4)
    assert cfg.optim_wrapper.paramwise_cfg.norm_decay_mult == 0.
    assert cfg.train_cfg.max_epochs == 12
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert steps[0].milestones == [8, 11]
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr.base_batch_size == 16
    for key in ('optimizer', 'lr_config', 'runner', 'optimizer_config'):  # mmdet 2.x keys
        assert key not in cfg
    init = cfg.model.backbone.init_cfg
    assert init.checkpoint.startswith('https://github.com/ziplab/LITv2/releases/download/v1.0/')


def test_ws4_and_neck_settings():
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'retinanet', 'litv2_b_ws4_1x.py'))
    assert tuple(cfg.model.backbone.local_ws) == (0, 0, 4, 1)
    assert cfg.model.backbone.arch == 'base'
    assert cfg.model.neck.in_channels == [128, 256, 512, 1024]
    assert (cfg.model.neck.start_level, cfg.model.neck.add_extra_convs,
            cfg.model.neck.num_outs) == (1, 'on_input', 5)


def test_segmentation_recipes():
    up = Config.fromfile(osp.join(REPO, 'configs', 'upernet', 'litv2_s_512x512_160k_ade20k.py'))
    assert up.optim_wrapper.optimizer.lr == 6e-5 and up.optim_wrapper.optimizer.weight_decay == 0.01
    assert up.train_cfg.max_iters == 160000 and up.train_dataloader.batch_size == 2
    assert up.model.auxiliary_head.in_channels == 384 and up.crop_size == (512, 512)
    fpn = Config.fromfile(osp.join(REPO, 'configs', 'sem_fpn', 'litv2_s_512x512_80k_ade20k.py'))
    assert fpn.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                                               weight_decay=1e-4)
    assert fpn.train_cfg.max_iters == 80000


def test_synthetic_classes_match_the_generator():
    from litv2_mm.datasets.synthetic import COCO_CLASSES
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'mask_rcnn', 'litv2_s_1x_synthetic.py'))
    assert tuple(cfg.train_dataloader.dataset.metainfo.classes) == tuple(COCO_CLASSES)
    assert cfg.model.roi_head.bbox_head.num_classes == len(COCO_CLASSES)


@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain'])
def test_same_snippet_builds_under_every_scope(scope):
    cfg = Config(dict(custom_imports=dict(imports=['litv2_mm'], allow_failed_imports=False),
                      backbone=dict(type='LITv2', arch='small', out_indices=(3, ))))
    init_default_scope(scope)
    registry = {'mmdet': 'mmdet.registry', 'mmseg': 'mmseg.registry',
                'mmpretrain': 'mmpretrain.registry'}[scope]
    import importlib

    import litv2_mm  # noqa: F401  (what custom_imports does)
    backbone = importlib.import_module(registry).MODELS.build(cfg.backbone)
    assert type(backbone).__name__ == 'LITv2'
    assert backbone(torch.randn(1, 3, 64, 64))[0].shape == (1, 768, 2, 2)
