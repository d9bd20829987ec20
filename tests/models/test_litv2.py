"""The LITv2 backbone: shapes at any size, arch zoo, freezing, checkpointing, validation."""
import pytest
import torch

from litv2_mm.models import LITv2
from litv2_mm.reference import reference_litv2

from helpers import TINY, assert_rel_close, expected_hw


@pytest.mark.parametrize('arch', ['small', 'medium', 'base'])
def test_every_arch_at_224(arch, arch_model):
    model = arch_model(arch)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, 224, 224))
    C = model.embed_dims
    assert [o.shape for o in outs] == [(1, C * 2 ** i, 56 // 2 ** i, 56 // 2 ** i)
                                       for i in range(4)]


@pytest.mark.parametrize('arch', ['small', 'medium', 'base'])
@pytest.mark.parametrize('size', [(512, 512), (511, 511), (112, 137), (33, 47), (250, 330),
                                  (7, 5), (4, 4), (3, 2), (1, 1)])
def test_every_arch_any_size(arch, size, arch_model):
    model = arch_model(arch)
    with torch.no_grad():
        outs = model(torch.randn(1, 3, *size))
    assert [tuple(o.shape[2:]) for o in outs] == expected_hw(*size)
    assert all(torch.isfinite(o).all() for o in outs)


@pytest.mark.parametrize('alpha', [0., 0.5, 0.9, 1.])
@pytest.mark.parametrize('ws', [1, 2, 3, 4])
def test_alpha_and_window(alpha, ws):
    model = LITv2(arch=TINY, alpha=alpha, window_size=(0, 0, ws, 1)).eval()
    with torch.no_grad():
        outs = model(torch.randn(2, 3, 61, 45))
    assert [tuple(o.shape[2:]) for o in outs] == expected_hw(61, 45)


def test_published_parameter_count_of_litv2_s(arch_model):
    model = arch_model('small')
    assert sum(p.numel() for p in model.parameters()) == 27_076_152


@pytest.mark.parametrize('train', [False, True])
def test_outputs_are_contiguous_nchw_as_roi_align_needs(train):
    """mmcv's RoIAlign (Mask R-CNN's RoI extractor) reads its input's memory as NCHW whatever
    its strides say; a channels-last view there gave wrong RoI features (Mask R-CNN stalled)."""
    from mmcv.ops import RoIAlign
    model = LITv2(arch=TINY).train(train)
    with torch.set_grad_enabled(train):
        outs = model(torch.randn(2, 3, 64, 96))
    rois = torch.tensor([[0, 2., 3., 40., 50.], [1, 10., 5., 90., 60.]])
    for i, out in enumerate(outs):
        assert out.is_contiguous()
        align = RoIAlign((7, 7), 1 / 2 ** (i + 2), 0, aligned=True)
        out = out.detach()
        plain = out.clone(memory_format=torch.contiguous_format)
        assert torch.equal(align(out, rois), align(plain, rois))


def test_out_indices_and_norms():
    model = LITv2(arch=TINY, out_indices=(1, 3)).eval()
    outs = model(torch.randn(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == [32, 128]
    assert hasattr(model, 'norm1') and hasattr(model, 'norm3') and not hasattr(model, 'norm2')


def test_frozen_stages_stay_frozen_and_in_eval_mode():
    model = LITv2(arch=TINY, frozen_stages=2)
    model.train()
    for module in (model.patch_embed, model.layers[0], model.layers[1], model.norm1):
        assert not module.training
        assert not any(p.requires_grad for p in module.parameters())
    assert model.layers[2].training and all(p.requires_grad for p in model.layers[2].parameters())
    assert model.norm2.training


def test_with_cp_gives_identical_outputs_and_gradients():
    torch.manual_seed(0)
    plain = LITv2(arch=TINY, drop_path_rate=0.)
    ckpt = LITv2(arch=TINY, drop_path_rate=0., with_cp=True)
    ckpt.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 48)
    outs = [m(x) for m in (plain, ckpt)]
    for a, b in zip(*outs):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for o in outs:
        sum(t.square().mean() for t in o).backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-6, atol=1e-7, msg=name)


@pytest.mark.parametrize('size', [(96, 80), (61, 45)])
def test_backbone_equals_the_reference_with_gradients(size):
    """The authors' formulation (litv2_mm/analysis/reference.py) with the same weights."""
    torch.manual_seed(0)
    model = LITv2(arch='small', drop_path_rate=0.)
    # non-zero DTM offsets so the deformable sampling is exercised
    for m in model.modules():
        if hasattr(m, 'conv_offset'):
            torch.nn.init.normal_(m.conv_offset.weight, std=0.05)
    # eval mode: BatchNorm with running statistics (batch statistics of a tiny batch
    # would amplify float rounding); gradients still flow
    model.eval()
    ref = reference_litv2(model)
    x = torch.randn(2, 3, *size)
    out_f, out_r = model(x), ref(x.clone())
    for i, (a, b) in enumerate(zip(out_f, out_r)):
        assert_rel_close(a, b, 1e-4, f'output {i}')
    with torch.no_grad():  # CPU inference speed-ups
        for i, (a, b) in enumerate(zip(model(x), out_r)):
            assert_rel_close(a, b, 1e-4, f'output {i} (no grad)')
    grads = [torch.randn_like(o) for o in out_f]
    sum((o * g).sum() for o, g in zip(out_f, grads)).backward()
    sum((o * g).sum() for o, g in zip(out_r, grads)).backward()
    params = dict(ref.named_parameters())
    for name, p in model.named_parameters():
        assert_rel_close(p.grad, params[name].grad, 1e-4, name)


@pytest.mark.parametrize('kwargs,word', [
    (dict(arch='tiny'), 'arch'),
    (dict(arch=dict(embed_dims=16, depths=(1, 1, 1), num_heads=(1, 1, 1))), 'arch'),
    (dict(arch=dict(embed_dims=16, depths=(1, 1, 1, 1), num_heads=(1, 3, 4, 8))), 'num_heads'),
    (dict(alpha=1.2), 'alpha'),
    (dict(window_size=(0, 0, -1, 1)), 'window_size'),
    (dict(window_size=(0, 2, 1)), 'window_size'),
    (dict(out_indices=(0, 4)), 'out_indices'),
    (dict(frozen_stages=5), 'frozen_stages'),
    (dict(drop_path_rate=1.0), 'drop_path_rate'),
])
def test_bad_arguments_are_named(kwargs, word):
    kwargs.setdefault('arch', TINY)
    with pytest.raises((ValueError, TypeError), match=word):
        LITv2(**kwargs)


@pytest.mark.parametrize('shape', [(3, 32, 32), (1, 1, 3, 32, 32), (1, 4, 32, 32)])
def test_wrong_input_rank_or_channels(shape):
    with pytest.raises(ValueError, match='expects input of shape'):
        LITv2(arch=TINY)(torch.randn(*shape))


def test_layer_depth_follows_the_forward_order(arch_model):
    model = arch_model('small')  # depths (2, 2, 6, 2): 14 depths
    depth = {name: model.get_layer_depth(name)[0] for name, _ in model.named_parameters()}
    assert {model.get_layer_depth(n)[1] for n in depth} == {14}
    assert depth['patch_embed.proj.weight'] == 0
    assert depth['layers.0.blocks.0.norm2.weight'] == 1
    assert depth['layers.2.blocks.5.attn.l_q.weight'] == 2 + 2 + 5 + 1
    assert depth['layers.0.downsample.dconv.weight'] == 2  # with stage 1's last block
    assert depth['norm3.weight'] == 12
    assert model.get_layer_depth('head.fc.weight', 'backbone.') == (13, 14)
    assert model.get_layer_depth('backbone.patch_embed.norm.bias', 'backbone.') == (0, 14)
    # the stem and the stages are registered in forward order (the output norms after them)
    ordered = [d for n, d in depth.items() if n.startswith(('patch_embed.', 'layers.'))]
    assert ordered == sorted(ordered)


def test_mmpretrain_layer_decay_gives_every_depth_its_rate():
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import DefaultScope

    from litv2_mm.apis import init_model
    model = init_model('configs/classification/litv2_s_synthetic.py')
    cfg = dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05),
               constructor='LearningRateDecayOptimWrapperConstructor',
               paramwise_cfg=dict(layer_decay_rate=0.5))
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        wrapper = build_optim_wrapper(model, cfg)
    lr = {g['param_name']: g['lr'] for g in wrapper.optimizer.param_groups}
    assert lr['backbone.patch_embed.proj.weight'] == pytest.approx(1e-3 * 0.5 ** 13)
    assert lr['backbone.layers.3.blocks.1.mlp.fc2.weight'] == pytest.approx(1e-3 * 0.5 ** 1)
    assert lr['head.fc.weight'] == pytest.approx(1e-3)


def test_the_authors_name_local_ws_still_builds_the_same_model():
    """Configs written with the authors' ``local_ws`` keep loading (a deprecation warning)."""
    with pytest.warns(DeprecationWarning, match='local_ws is deprecated, pass window_size'):
        old = LITv2(arch=TINY, local_ws=(0, 0, 3, 1))
    assert old.window_size == (0, 0, 3, 1)
    assert old.layers[2].blocks[0].attn.window_size == 3
