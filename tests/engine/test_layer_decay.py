"""Layer-wise learning-rate decay (``BackboneLayerDecayOptimWrapperConstructor``): the
optimizer that mmengine's ``build_optim_wrapper`` builds from a config, as the runner does,
for a detector (mmdet), a segmentor (mmseg) and a classifier (mmpretrain) with a small
LITv2, has every parameter in exactly one group, at the learning rate of its depth in the
paper's architecture and without weight decay on norms and biases; the fine-tuning configs
build theirs; mmpretrain's own constructor gives the classifier the same groups."""
import os.path as osp
import re
import sys
from collections import Counter

import pytest
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from litv2_mm.apis import init_model

from helpers import TINY, TINY_WIDTHS, run_command

LR, WD, RATE = 1e-3, 0.05, 0.5
OPTIM = f"""
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr={LR}, weight_decay={WD}),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate={RATE}, norm_decay_mult=0., bias_decay_mult=0.,
                       flat_decay_mult=0., custom_keys={{'.conv_offset': dict(lr_mult=0.01)}}))
"""
# the small LITv2 (helpers.TINY) and the necks and heads that read its widths
SHRINK = {
    'retinanet/litv2_s_1x_synthetic.py': dict(
        neck=dict(in_channels=TINY_WIDTHS), bbox_head=dict(feat_channels=16)),
    'upernet/litv2_s_synthetic.py': dict(
        decode_head=dict(in_channels=TINY_WIDTHS, channels=16),
        auxiliary_head=dict(in_channels=TINY_WIDTHS[2], channels=16)),
    'classification/litv2_s_synthetic.py': dict(head=dict(in_channels=TINY_WIDTHS[3])),
}
# a parameter of each model's necks and heads: the full learning rate
HEAD_PARAM = {'retinanet/litv2_s_1x_synthetic.py': 'bbox_head.retina_cls.weight',
              'upernet/litv2_s_synthetic.py': 'decode_head.conv_seg.weight',
              'classification/litv2_s_synthetic.py': 'head.fc.weight'}


def shrink_options(config):
    return dict(model=dict(backbone=dict(arch=dict(_delete_=True, **TINY), drop_path_rate=0.),
                           **SHRINK[config]))


def paper_depth(name, depths=TINY['depths']):
    """The depth of a parameter in LITv2's forward order, from its stage and block indices:
    the patch embedding 0, then every block of the four stages in turn (1, 2, ...); a stage's
    deformable token merging and its output norm run after its last block and share its
    depth; everything outside the backbone (neck, heads) one past the last block."""
    blocks = [(stage, block) for stage, n in enumerate(depths) for block in range(n)]
    if name.startswith('backbone.patch_embed.'):
        return 0
    m = re.match(r'backbone\.layers\.(\d)\.blocks\.(\d+)\.', name)
    if m:
        return blocks.index((int(m[1]), int(m[2]))) + 1
    m = re.match(r'backbone\.(?:layers\.(\d)\.downsample|norm(\d))\.', name)
    if m:
        stage = int(m[1] or m[2])
        return blocks.index((stage, depths[stage] - 1)) + 1
    assert not name.startswith('backbone.'), f'{name}: not in the paper\'s architecture'
    return len(blocks) + 1


def expected_lr(name, lr=LR, rate=RATE, depths=TINY['depths'], offset_mult=0.01):
    """lr * rate ** (number of depths - depth - 1), times ``offset_mult`` for the DTM offset
    convs (their ``custom_keys`` ``lr_mult``)."""
    num_depths = sum(depths) + 2
    return lr * rate ** (num_depths - paper_depth(name, depths) - 1) * (
        offset_mult if '.conv_offset.' in name else 1)


def expected_wd(name, param, wd=WD, offset_key=True):
    """No weight decay on 1-D parameters (norms, biases), ``wd`` on the others; a parameter
    that a ``custom_keys`` entry matches (``.conv_offset`` when ``offset_key``) takes that
    entry's ``decay_mult`` (1 here) instead, as in mmengine's and mmpretrain's constructors."""
    if offset_key and '.conv_offset.' in name:
        return wd
    return 0. if param.ndim == 1 else wd


def groups_by_name(model, wrapper):
    """{parameter name: its group}, checking that every trainable parameter of ``model`` is in
    exactly one group (of one parameter) and that the groups hold nothing else."""
    groups = wrapper.optimizer.param_groups
    counts = Counter(id(p) for g in groups for p in g['params'])
    named = dict(model.named_parameters())
    assert counts == Counter(id(p) for p in named.values() if p.requires_grad)
    by_name = {g['param_name']: g for g in groups}
    assert len(by_name) == len(groups)
    for name, group in by_name.items():
        assert group['params'] == [named[name]], name
    return by_name


def tiny_layer_decay_model(tmp_path, tiny_config, config):
    """(model, Config) of ``config`` with the small LITv2 and layer decay (OPTIM), read from
    a config file and built in its default scope as the runner does."""
    cfg = Config.fromfile(tiny_config(tmp_path, config, OPTIM))
    model = init_model(cfg, cfg_options=shrink_options(config))
    init_default_scope(cfg.default_scope)
    return model, cfg


@pytest.mark.parametrize('config,scope', [('retinanet/litv2_s_1x_synthetic.py', 'mmdet'),
                                          ('upernet/litv2_s_synthetic.py', 'mmseg'),
                                          ('classification/litv2_s_synthetic.py', 'mmpretrain')])
def test_every_parameter_gets_the_rate_of_its_depth(tmp_path, tiny_config, config, scope):
    model, cfg = tiny_layer_decay_model(tmp_path, tiny_config, config)
    assert cfg.default_scope == scope
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    by_name = groups_by_name(model, wrapper)
    for name, group in by_name.items():
        assert group['lr'] == pytest.approx(expected_lr(name), rel=1e-12), name
        assert group['weight_decay'] == expected_wd(name, group['params'][0]), name
        assert 'lr_mult' not in group, name
    # the depths the paper's architecture has, each at its rate; the heads at the base lr
    assert by_name['backbone.patch_embed.proj.weight']['lr'] == pytest.approx(LR * RATE ** 6)
    assert by_name['backbone.layers.2.blocks.1.attn.l_q.weight']['lr'] == pytest.approx(
        LR * RATE ** 2)
    assert by_name['backbone.layers.3.blocks.0.mlp.fc2.weight']['lr'] == pytest.approx(LR * RATE)
    assert by_name['backbone.norm3.weight']['lr'] == pytest.approx(LR * RATE)
    assert by_name[HEAD_PARAM[config]]['lr'] == LR
    assert by_name[HEAD_PARAM[config]]['weight_decay'] == WD
    for name in ('backbone.patch_embed.norm.weight', 'backbone.layers.2.blocks.0.norm1.bias',
                 'backbone.layers.0.downsample.norm_layer.weight',
                 'backbone.layers.1.blocks.0.mlp.fc1.bias', HEAD_PARAM[config][:-6] + 'bias'):
        assert by_name[name]['weight_decay'] == 0., name
    assert by_name['backbone.layers.1.blocks.0.mlp.fc1.weight']['weight_decay'] == WD
    assert by_name['backbone.layers.0.downsample.dconv.conv_offset.weight']['lr'] == \
        pytest.approx(LR * RATE ** 5 * 0.01)
    # the scope's own registry finds it in its parent, mmengine's
    import importlib
    registry = importlib.import_module(f'{scope}.registry').OPTIM_WRAPPER_CONSTRUCTORS
    assert registry.get('BackboneLayerDecayOptimWrapperConstructor').__module__ == \
        'litv2_mm.engine.layer_decay'


def test_mmpretrain_constructor_gives_the_classifier_the_same_groups(tmp_path, tiny_config):
    from mmengine.optim import DefaultOptimWrapperConstructor
    from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor

    from litv2_mm.engine import BackboneLayerDecayOptimWrapperConstructor
    model, cfg = tiny_layer_decay_model(tmp_path, tiny_config,
                                        'classification/litv2_s_synthetic.py')
    ours = build_optim_wrapper(model, cfg.optim_wrapper)
    theirs = build_optim_wrapper(
        model, dict(cfg.optim_wrapper, constructor='LearningRateDecayOptimWrapperConstructor'))
    keys = ('param_name', 'lr', 'weight_decay', 'layer_id', 'lr_scale')
    for a, b in zip(ours.optimizer.param_groups, theirs.optimizer.param_groups, strict=True):
        assert a['params'][0] is b['params'][0]
        # mmpretrain's leaves custom_keys' lr_mult in the group, unapplied; ours applies it
        mult = b.get('lr_mult', 1.)
        assert (mult == 0.01) == ('.conv_offset.' in a['param_name'])
        assert a['lr'] == pytest.approx(b['lr'] * mult, rel=1e-12)
        assert a['lr_scale'] == pytest.approx(b['lr_scale'] * mult, rel=1e-12)
        assert {k: a[k] for k in keys if k not in ('lr', 'lr_scale')} == \
            {k: b[k] for k in keys if k not in ('lr', 'lr_scale')}
    # without lr_mult the groups are the same, key for key
    paramwise = dict(cfg.optim_wrapper.paramwise_cfg, custom_keys={})
    plain = [build_optim_wrapper(model, dict(cfg.optim_wrapper, constructor=c,
                                             paramwise_cfg=paramwise)).optimizer.param_groups
             for c in ('BackboneLayerDecayOptimWrapperConstructor',
                       'LearningRateDecayOptimWrapperConstructor')]
    assert [{k: g[k] for k in keys} for g in plain[0]] == [{k: g[k] for k in keys}
                                                           for g in plain[1]]
    constructor = BackboneLayerDecayOptimWrapperConstructor(
        dict(optimizer=dict(type='AdamW', lr=LR, weight_decay=WD)), dict(layer_decay_rate=RATE))
    # a plain class (no class made at run time), which runs mmpretrain's rules
    assert type(constructor) is BackboneLayerDecayOptimWrapperConstructor
    assert BackboneLayerDecayOptimWrapperConstructor.__mro__[1] is DefaultOptimWrapperConstructor
    assert not issubclass(LearningRateDecayOptimWrapperConstructor,
                          BackboneLayerDecayOptimWrapperConstructor)


@pytest.mark.parametrize('config,lr,wd,num_depths,head', [
    ('classification/litv2_s_8xb64_in1k_finetune_384.py', 2e-5, 1e-8, 14, 'head.fc.weight'),
    ('upernet/litv2_s_512x512_160k_ade20k_layer_decay.py', 1e-4, 0.05, 14,
     'auxiliary_head.conv_seg.weight'),
])
def test_finetune_configs_build_their_optimizer(repo_root, config, lr, wd, num_depths, head):
    from mmengine.optim import LinearLR
    cfg = Config.fromfile(osp.join(repo_root, 'configs', config))
    assert cfg.optim_wrapper.constructor == 'BackboneLayerDecayOptimWrapperConstructor'
    assert cfg.optim_wrapper.paramwise_cfg.layer_decay_rate == 0.9
    model = init_model(cfg)  # LITv2-S, depths (2, 2, 6, 2)
    init_default_scope(cfg.default_scope)
    wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
    by_name = groups_by_name(model, wrapper)
    depths = (2, 2, 6, 2)
    assert sum(depths) + 2 == num_depths
    offset_key = cfg.optim_wrapper.paramwise_cfg.get('custom_keys', {}).get('.conv_offset')
    offset_mult = offset_key['lr_mult'] if offset_key else 1.
    for name, group in by_name.items():
        assert group['lr'] == pytest.approx(expected_lr(name, lr, 0.9, depths, offset_mult),
                                            rel=1e-12), name
        assert group['weight_decay'] == expected_wd(name, group['params'][0], wd,
                                                    offset_key is not None), name
    assert by_name['backbone.patch_embed.proj.weight']['lr'] == pytest.approx(lr * 0.9 ** 13)
    assert by_name[head]['lr'] == lr
    # a scheduler scales every group's rate alike
    before = [g['lr'] for g in wrapper.optimizer.param_groups]
    LinearLR(wrapper, start_factor=0.1, by_epoch=False, end=10)
    after = [g['lr'] for g in wrapper.optimizer.param_groups]
    assert after == pytest.approx([0.1 * b for b in before], rel=1e-9)


class _NoDepthBackbone(nn.Module):

    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 2)


def _build(paramwise_cfg, model=None, optimizer=None):
    optimizer = optimizer or dict(type='AdamW', lr=LR, weight_decay=WD)
    return build_optim_wrapper(model or _NoDepthBackbone(),
                               dict(optimizer=optimizer,
                                    constructor='BackboneLayerDecayOptimWrapperConstructor',
                                    paramwise_cfg=paramwise_cfg))


@pytest.mark.parametrize('paramwise_cfg,word', [
    (dict(layer_decay_rate=0.), r'layer_decay_rate.*\(0, 1\].*got 0\.0'),
    (dict(layer_decay_rate=1.5), r'layer_decay_rate.*got 1\.5'),
    (dict(layer_decay_rate=-0.9), r'layer_decay_rate.*got -0\.9'),
    (dict(layer_decay_rate='0.9'), r'layer_decay_rate.*got \'0\.9\''),
    (dict(layer_decay_rate=True), r'layer_decay_rate.*got True'),
    (dict(norm_decay_mult=0.), r'needs `optim_wrapper\.paramwise_cfg\.layer_decay_rate`'),
    (None, r'needs `optim_wrapper\.paramwise_cfg\.layer_decay_rate`'),
    (dict(layer_decay_rate=0.9, dwconv_decay_mult=0.),
     r"paramwise_cfg` fields \['dwconv_decay_mult'\] are not read"),
])
def test_bad_paramwise_cfg_is_named(paramwise_cfg, word):
    with pytest.raises(ValueError, match=word):
        _build(paramwise_cfg)


def test_missing_weight_decay_is_named():
    with pytest.raises(ValueError, match=r'optim_wrapper\.optimizer\.weight_decay` \(0 for none'):
        _build(dict(layer_decay_rate=0.9), optimizer=dict(type='SGD', lr=0.1))


def test_a_backbone_without_get_layer_depth_is_named():
    with pytest.raises(TypeError, match=r'model\.backbone \(Linear\) has no get_layer_depth.*'
                                        r'use a backbone that defines it'):
        _build(dict(layer_decay_rate=0.9))
    with pytest.raises(TypeError, match=r'the model \(Sequential\) has no `backbone`.*'
                                        r'LearningRateDecayOptimWrapperConstructor'):
        _build(dict(layer_decay_rate=0.9), model=nn.Sequential(nn.Linear(2, 2)))


def test_import_registers_it_without_importing_mmpretrain(repo_root):
    code = ('import sys, litv2_mm; from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as R;'
            "assert R.get('BackboneLayerDecayOptimWrapperConstructor') is not None;"
            "assert not any(m.split('.')[0] == 'mmpretrain' for m in sys.modules), 'mmpretrain'")
    run_command([sys.executable, '-c', code], timeout=300)


def test_frozen_stages_stay_out_of_the_optimizer():
    from litv2_mm.models import LITv2

    class Classifier(nn.Module):

        def __init__(self):
            super().__init__()
            self.backbone = LITv2(arch=TINY, frozen_stages=1)
            self.head = nn.Linear(TINY_WIDTHS[3], 3)

    torch.manual_seed(0)
    model = Classifier().train()
    wrapper = _build(dict(layer_decay_rate=RATE), model=model)
    by_name = groups_by_name(model, wrapper)
    assert not any(n.startswith(('backbone.patch_embed.', 'backbone.layers.0.')) for n in by_name)
    assert by_name['head.weight']['lr'] == LR
    assert by_name['backbone.layers.1.blocks.0.mlp.fc1.weight']['lr'] == pytest.approx(
        expected_lr('backbone.layers.1.blocks.0.mlp.fc1.weight'))
