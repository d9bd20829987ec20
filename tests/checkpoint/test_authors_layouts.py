"""The backbone loads the authors' ImageNet / COCO / ADE20K files and our own, losing nothing."""

import pytest
import torch

from litv2_mm.checkpoint import CheckpointError
from litv2_mm.models import LITv2

SMALL = dict(embed_dims=32, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))


def make_source():
    torch.manual_seed(0)
    model = LITv2(arch=SMALL).eval()
    for p in model.parameters():
        torch.nn.init.normal_(p, std=0.1)
    return model


def imagenet_file(model, path):
    """The authors' classification layout: weights under 'model', 'norm.*' and 'head.*'."""
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(('norm1.', 'norm2.'))}
    for name in ('weight', 'bias'):
        state[f'norm.{name}'] = state.pop(f'norm3.{name}')
    state['head.weight'], state['head.bias'] = torch.randn(10, 256), torch.randn(10)
    torch.save({'model': state, 'epoch': 300}, path)


def dense_file(model, path):
    """mmdet / mmseg layout (the authors' COCO and ADE20K files, and our runs)."""
    state = {'backbone.' + k: v for k, v in model.state_dict().items()}
    state['neck.lateral_convs.0.conv.weight'] = torch.randn(8, 32, 1, 1)
    torch.save({'state_dict': state, 'meta': {'epoch': 12}}, path)


def features(model, x):
    with torch.no_grad():
        return model.eval()(x)


@pytest.mark.parametrize('layout', ['imagenet', 'dense', 'dense_explicit_prefix'])
def test_three_layouts_load_with_zero_lost_keys(tmp_path, layout, caplog):
    source = make_source()
    path = tmp_path / 'ckpt.pth'
    (imagenet_file if layout == 'imagenet' else dense_file)(source, path)
    init_cfg = dict(type='Pretrained', checkpoint=str(path))
    if layout == 'dense_explicit_prefix':
        init_cfg['prefix'] = 'backbone.'
    target = LITv2(arch=SMALL, init_cfg=init_cfg)
    from litv2_mm.checkpoint import load_pretrained_backbone
    report = load_pretrained_backbone(target, init_cfg)
    assert report['unexpected'] == [] and report['shape_mismatch'] == []
    if layout == 'imagenet':  # a classifier has no norm for stages 2 and 3
        assert sorted(report['missing']) == ['norm1.bias', 'norm1.weight', 'norm2.bias',
                                             'norm2.weight']
        for name, p in target.named_parameters():
            if not name.startswith(('norm1.', 'norm2.')):
                torch.testing.assert_close(p, source.state_dict()[name], rtol=0, atol=0)
    else:
        assert report['missing'] == []
        x = torch.randn(1, 3, 64, 64)
        for a, b in zip(features(target, x), features(source, x)):
            torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_init_weights_uses_pretrained(tmp_path):
    source = make_source()
    path = tmp_path / 'ours.pth'
    dense_file(source, path)
    target = LITv2(arch=SMALL, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    target.init_weights()
    x = torch.randn(1, 3, 40, 56)
    for a, b in zip(features(target, x), features(source, x)):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_wrong_shape_is_reported_by_key(tmp_path, capsys):
    source = make_source()
    state = {'backbone.' + k: v for k, v in source.state_dict().items()}
    state['backbone.layers.2.blocks.0.attn.l_q.weight'] = torch.randn(5, 5)
    state['backbone.layers.9.extra.weight'] = torch.randn(3)
    path = tmp_path / 'bad.pth'
    torch.save({'state_dict': state}, path)
    from litv2_mm.checkpoint import load_pretrained_backbone
    target = LITv2(arch=SMALL)
    report = load_pretrained_backbone(target, dict(type='Pretrained', checkpoint=str(path)))
    assert [m[0] for m in report['shape_mismatch']] == ['layers.2.blocks.0.attn.l_q.weight']
    assert report['unexpected'] == ['layers.9.extra.weight']
    assert report['missing'] == []
    out = capsys.readouterr().out
    assert 'layers.2.blocks.0.attn.l_q.weight' in out and 'shape mismatch' in out
    assert 'layers.9.extra.weight' in out


class NotAWeight:
    pass


def test_pickled_objects_need_an_explicit_opt_in(tmp_path):
    source = make_source()
    path = tmp_path / 'with_config.pth'
    torch.save({'model': source.state_dict(), 'config': NotAWeight()}, path)
    init_cfg = dict(type='Pretrained', checkpoint=str(path))
    with pytest.raises(CheckpointError, match='trusted=True'):
        LITv2(arch=SMALL, init_cfg=init_cfg).init_weights()
    target = LITv2(arch=SMALL, init_cfg=dict(init_cfg, trusted=True))
    target.init_weights()
    torch.testing.assert_close(target.patch_embed.proj.weight, source.patch_embed.proj.weight)


def test_file_without_backbone_weights(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'neck.conv.weight': torch.randn(2)}}, path)
    with pytest.raises(ValueError, match='no backbone weights'):
        LITv2(arch=SMALL, init_cfg=dict(type='Pretrained', checkpoint=str(path),
                                        prefix='backbone.')).init_weights()
