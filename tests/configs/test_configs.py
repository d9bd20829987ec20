"""Every config loads and builds under its library's scope; sizes match the paper."""
import glob
import os.path as osp
import re

import mmdet
import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from litv2_mm.apis import init_model

from helpers import REPO_ROOT, TINY, TINY_WIDTHS

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', '*.py'))
                 if '/_base_/' not in p and '/configs/deploy/' not in p)  # model configs

# millions of parameters published by the authors
PUBLISHED = {
    'retinanet/litv2_s_1x.py': 38, 'retinanet/litv2_m_1x.py': 59, 'retinanet/litv2_b_1x.py': 97,
    'mask_rcnn/litv2_s_1x.py': 47, 'mask_rcnn/litv2_m_1x.py': 68, 'mask_rcnn/litv2_b_1x.py': 106,
    'sem_fpn/litv2_s_512x512_80k_ade20k.py': 31, 'sem_fpn/litv2_m_512x512_80k_ade20k.py': 52,
    'sem_fpn/litv2_b_512x512_80k_ade20k.py': 90,
    'classification/litv2_s_8xb128_in1k.py': 28, 'classification/litv2_m_8xb128_in1k.py': 49,
    'classification/litv2_b_8xb128_in1k.py': 87,
}
MASK_3X = [f'mask_rcnn/litv2_{v}_ms_3x.py' for v in 'smb']
CASCADE_3X = [f'cascade_mask_rcnn/litv2_{v}_ms_3x.py' for v in 'smb']
# The 3x Mask R-CNN networks are the 1x ones (test_3x_configs_are_mmdets_recipes_with_litv2):
# sized as those.
SAME_NETWORK = {f'mask_rcnn/litv2_{v}_ms_3x.py': f'mask_rcnn/litv2_{v}_1x.py' for v in 'smb'}
# Cascade Mask R-CNN: nothing published. The exact sizes of the built models, pinned once; each
# is its LITv2 backbone plus mmdet's own ConvNeXt-T cascade (FPN, RPN, three 4conv1fc box
# heads, three mask heads: 58,109,106 parameters on LITv2-S / -M, 58,231,986 on LITv2-B's wider
# FPN inputs), which test_cascade_sizes_are_litv2_plus_mmdets_cascade derives independently.
CASCADE_PARAMS = {'cascade_mask_rcnn/litv2_s_ms_3x.py': 85_185_258,
                  'cascade_mask_rcnn/litv2_m_ms_3x.py': 106_171_626,
                  'cascade_mask_rcnn/litv2_b_ms_3x.py': 143_729_226}
# the mmdet configs the 3x ones follow (installed with mmdet, in its .mim folder)
MMDET_CONFIGS = osp.join(osp.dirname(mmdet.__file__), '.mim', 'configs')
SWIN_3X = osp.join(MMDET_CONFIGS, 'swin', 'mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py')
CONVNEXT_CASCADE = osp.join(MMDET_CONFIGS, 'convnext', 'cascade-mask-rcnn_convnext-t-p4-w7_'
                            'fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py')


def rel(path):
    return osp.relpath(path, osp.join(REPO_ROOT, 'configs'))


def test_configs_exist():
    names = {rel(p) for p in CONFIGS}
    for v in 'smb':
        for name in (f'retinanet/litv2_{v}_1x.py', f'retinanet/litv2_{v}_ws4_1x.py',
                     f'mask_rcnn/litv2_{v}_1x.py', f'mask_rcnn/litv2_{v}_ws4_1x.py',
                     f'upernet/litv2_{v}_512x512_160k_ade20k.py',
                     f'sem_fpn/litv2_{v}_512x512_80k_ade20k.py',
                     f'classification/litv2_{v}_8xb128_in1k.py'):
            assert name in names
    assert set(MASK_3X + CASCADE_3X) <= names


# The M and B models (the same code as S, larger) are built in the slow part only.
BUILDS = [pytest.param(p, marks=pytest.mark.slow) if re.search(r'litv2_[mb]_', osp.basename(p))
          else p for p in CONFIGS]


@pytest.mark.parametrize('path', BUILDS, ids=rel)
def test_config_builds(path):
    model = init_model(path)
    assert type(model.backbone).__name__ == 'LITv2'
    count = sum(p.numel() for p in model.parameters())
    sized_as = SAME_NETWORK.get(rel(path), rel(path))
    if sized_as in PUBLISHED:
        assert round(count / 1e6) == PUBLISHED[sized_as], f'{rel(path)}: {count / 1e6:.2f}M'
    if rel(path) in CASCADE_PARAMS:
        assert count == CASCADE_PARAMS[rel(path)], f'{rel(path)}: {count} parameters'


@pytest.mark.parametrize('name,lr', [('retinanet/litv2_s_1x.py', 1e-4),
                                     ('mask_rcnn/litv2_b_ws4_1x.py', 2e-4)])
def test_detection_recipe_is_the_papers(repo_root, name, lr):
    cfg = Config.fromfile(osp.join(repo_root, 'configs', name))
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


def test_ws4_and_neck_settings(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'retinanet', 'litv2_b_ws4_1x.py'))
    assert tuple(cfg.model.backbone.window_size) == (0, 0, 4, 1)
    assert cfg.model.backbone.arch == 'base'
    assert cfg.model.neck.in_channels == [128, 256, 512, 1024]
    assert (cfg.model.neck.start_level, cfg.model.neck.add_extra_convs,
            cfg.model.neck.num_outs) == (1, 'on_input', 5)


def test_segmentation_recipes(repo_root):
    up = Config.fromfile(osp.join(repo_root, 'configs', 'upernet',
                                  'litv2_s_512x512_160k_ade20k.py'))
    assert up.optim_wrapper.optimizer.lr == 6e-5 and up.optim_wrapper.optimizer.weight_decay == 0.01
    assert up.train_cfg.max_iters == 160000 and up.train_dataloader.batch_size == 2
    assert up.model.auxiliary_head.in_channels == 384 and up.crop_size == (512, 512)
    fpn = Config.fromfile(osp.join(repo_root, 'configs', 'sem_fpn',
                                   'litv2_s_512x512_80k_ade20k.py'))
    assert fpn.optim_wrapper.optimizer == dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999),
                                               weight_decay=1e-4)
    assert fpn.train_cfg.max_iters == 80000


def test_synthetic_classes_match_the_generator(repo_root):
    from litv2_mm.synthetic_data import COCO_CLASSES
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'mask_rcnn', 'litv2_s_1x_synthetic.py'))
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


def plain(node):
    """A config tree as plain dicts and lists, without the ``_scope_`` keys mmengine adds to
    what a config inherits through ``mmdet::``, so that it compares with mmdet's own file."""
    if isinstance(node, dict):
        return {k: plain(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, (list, tuple)):
        return [plain(v) for v in node]
    return node


@pytest.mark.parametrize('name', MASK_3X + CASCADE_3X)
def test_3x_configs_are_mmdets_recipes_with_litv2(repo_root, name):
    """mmdet's Swin-T 3x recipe (and for Cascade Mask R-CNN mmdet's ConvNeXt-T cascade model)
    with the LITv2 backbone, FPN inputs and optimizer of the matching 1x config."""
    v = osp.basename(name)[len('litv2_')]
    cfg = Config.fromfile(osp.join(repo_root, 'configs', name))
    one_x = Config.fromfile(osp.join(repo_root, 'configs', 'mask_rcnn', f'litv2_{v}_1x.py'))
    cascade = name.startswith('cascade_mask_rcnn/')
    ref = Config.fromfile(CONVNEXT_CASCADE if cascade else SWIN_3X)
    # multi-scale training (resize, or resize-crop-resize), 36 epochs, steps at 27 and 33
    for key in ('train_pipeline', 'train_dataloader', 'param_scheduler', 'test_pipeline',
                'val_dataloader', 'val_evaluator'):
        assert plain(cfg[key]) == plain(ref[key]), key
    assert [t.type for t in cfg.train_pipeline[3].transforms[1]] == [
        'RandomChoiceResize', 'RandomCrop', 'RandomChoiceResize']
    assert cfg.train_cfg.max_epochs == 36 and cfg.train_cfg.val_interval == 1
    steps = [s for s in cfg.param_scheduler if s.type == 'MultiStepLR']
    assert steps[0].milestones == [27, 33] and steps[0].end == 36
    # the network: the 1x one, or mmdet's ConvNeXt-T cascade with the 1x backbone and FPN inputs
    if cascade:
        expected = plain(ref.model)
        expected['backbone'] = plain(one_x.model.backbone)
        expected['neck']['in_channels'] = one_x.model.neck.in_channels
        assert plain(cfg.model) == expected
        heads = cfg.model.roi_head.bbox_head
        assert [(h.type, h.num_shared_convs, h.num_shared_fcs, h.norm_cfg.type,
                 h.loss_bbox.type) for h in heads] == [
            ('ConvFCBBoxHead', 4, 1, 'SyncBN', 'GIoULoss')] * 3
    else:
        assert cfg.model == one_x.model
    backbone = cfg.model.backbone
    assert (backbone.arch, backbone.drop_path_rate, cfg.model.neck.in_channels) == dict(
        s=('small', 0.2, [96, 192, 384, 768]), m=('medium', 0.2, [96, 192, 384, 768]),
        b=('base', 0.3, [128, 256, 512, 1024]))[v]
    assert backbone.init_cfg == dict(
        type='Pretrained', trusted=True,
        checkpoint=f'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_{v}.pth')
    # the paper's detection optimizer, as in the 1x configs: AdamW lr 2e-4 for 2 x 8 images
    assert cfg.optim_wrapper == one_x.optim_wrapper
    assert cfg.optim_wrapper.optimizer == dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999),
                                               weight_decay=1e-4)
    assert cfg.train_dataloader.batch_size == 2 and cfg.auto_scale_lr == one_x.auto_scale_lr
    for key in ('optimizer', 'lr_config', 'runner', 'optimizer_config'):  # mmdet 2.x keys
        assert key not in cfg


def test_cascade_sizes_are_litv2_plus_mmdets_cascade(repo_root):
    """CASCADE_PARAMS from pieces built apart: the LITv2 backbone of the config, and the FPN,
    RPN and cascade heads of mmdet's own ConvNeXt-T config (on the meta device: no memory)."""
    from mmdet.registry import MODELS
    from mmengine.registry import DefaultScope

    import litv2_mm  # noqa: F401

    def count(module):
        return sum(p.numel() for p in module.parameters())

    ref = Config.fromfile(CONVNEXT_CASCADE).model
    sizes = {}
    for name in CASCADE_3X:
        cfg = Config.fromfile(osp.join(repo_root, 'configs', name)).model
        with DefaultScope.overwrite_default_scope('mmdet'):
            backbone = count(MODELS.build(dict(cfg.backbone, init_cfg=None)))
            with torch.device('meta'):
                rest = sum(count(MODELS.build(part)) for part in (
                    dict(ref.neck, in_channels=cfg.neck.in_channels), ref.rpn_head,
                    ref.roi_head))
        sizes[name] = backbone + rest
        if 'litv2_s_' in name:
            assert backbone == 27_076_152  # the authors' LITv2-S detection backbone
    assert sizes == CASCADE_PARAMS


def tiny(name, **cfg_options):
    """The model of config ``name`` with a tiny LITv2 (tests/helpers.py), in eval mode."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', name))
    cfg.model.backbone.arch = TINY
    cfg.model.neck.in_channels = TINY_WIDTHS
    cfg.merge_from_dict(cfg_options)
    return init_model(cfg)


@pytest.mark.parametrize('name', [MASK_3X[0], CASCADE_3X[0]])
def test_3x_models_run_on_a_small_input(name):
    """Inference, and one training loss with its backward pass, on a 64 x 96 image (tiny
    backbone; 50 proposals and 32 sampled RoIs instead of COCO's 1000 and 512, so that the
    three 4conv1fc stages stay cheap on a CPU)."""
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    options = {'model.test_cfg.rpn.max_per_img': 50,
               'model.train_cfg.rpn_proposal.max_per_img': 50}
    if name in CASCADE_3X:
        options.update({f'model.train_cfg.rcnn.{i}.sampler.num': 32 for i in range(3)})
    else:
        options['model.train_cfg.rcnn.sampler.num'] = 32
    model = tiny(name, **options)
    h, w = 64, 96

    def batch():
        sample = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w),
                                             scale_factor=(1., 1.)))
        return dict(inputs=[torch.randint(0, 255, (3, h, w), dtype=torch.uint8)],
                    data_samples=[sample])

    with torch.no_grad():
        out = model.test_step(batch())
    assert len(out) == 1 and tuple(out[0].pred_instances.masks.shape[1:]) == (h, w)
    data = batch()
    mask = torch.zeros(1, h, w, dtype=torch.uint8)
    mask[:, 10:50, 20:70] = 1
    data['data_samples'][0].gt_instances = InstanceData(
        bboxes=torch.tensor([[20., 10., 70., 50.]]), labels=torch.tensor([3]),
        masks=BitmapMasks(mask.numpy(), h, w))
    model.train()
    losses = model(**model.data_preprocessor(data, training=True), mode='loss')
    if name in CASCADE_3X:  # three stages, each with its GIoU box loss and its mask loss
        assert {f's{i}.{k}' for i in range(3) for k in ('loss_bbox', 'loss_mask')} <= set(losses)
    total = sum(v if torch.is_tensor(v) else sum(v) for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert all(p.grad is not None for p in model.roi_head.parameters() if p.requires_grad)
