"""LITv2 under autocast (fp16, what ``--amp`` runs on a GPU, and bf16), forward and backward,
on the CPU (whose autocast runs a GPU's dtype logic): stage outputs against fp32 and against
the authors' formulation (litv2_mm/analysis/reference.py), with the initial weights and with
trained-like ones (non-zero DTM offsets, BatchNorm statistics, loaded from a checkpoint in
the authors' layout).

Relative difference ``||y - y_fp32|| / ||y_fp32||`` per stage output: at most 0.5 % (fp16)
and 2 % (bf16), at 224 x 224 and at a detection size (800 x 1344); gradients finite and
within the tolerances of ``GRAD_TOL`` (see there) of fp32's.
"""
import pytest
import torch

from litv2_mm.analysis.precision import relative_difference as rel_diff
from litv2_mm.models import LITv2
from litv2_mm.reference import reference_litv2

from helpers import skip_unless_cpu_bf16

FWD_TOL = {torch.float16: 0.005, torch.bfloat16: 0.02}
# gradients, (all parameters together, each parameter tensor), in train mode (BatchNorm
# batch statistics, as --amp trains) and eval mode. This loss amplifies rounding about 200x
# (fp32 against fp64: 1e-5 relative, 200 fp32 roundoffs); BatchNorm's batch-statistics
# backward subtracts the gradient's mean and so amplifies the low precision's error on the
# layers before it. Measured on 2026-12-01: train fp16 4.5 % / 13.8 %, bf16 10.6 % / 17.7 %;
# eval fp16 0.35 % / 3.0 %, bf16 2.7 % / 16.6 % (DTM's offset convs).
GRAD_TOL = {('train', torch.float16): (0.08, 0.20), ('train', torch.bfloat16): (0.15, 0.30),
            ('eval', torch.float16): (0.01, 0.05), ('eval', torch.bfloat16): (0.05, 0.25)}
DTYPES = [torch.float16, torch.bfloat16]


def authors_imagenet_file(path):
    """A checkpoint in the authors' ImageNet layout ('model', 'norm.*', 'head.*') with
    trained-like weights: DTM offset convs drawn from N(0, 0.02), BatchNorm statistics away
    from their init."""
    torch.manual_seed(1)
    model = LITv2(arch='small', drop_path_rate=0.)
    model.init_weights()
    for m in model.modules():
        if hasattr(m, 'conv_offset'):
            torch.nn.init.normal_(m.conv_offset.weight, std=0.02)
            torch.nn.init.normal_(m.conv_offset.bias, std=0.1)
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.)
            torch.nn.init.normal_(m.weight, 1., 0.2)
    state = {k: v for k, v in model.state_dict().items() if not k.startswith(('norm1.', 'norm2.'))}
    for name in ('weight', 'bias'):
        state[f'norm.{name}'] = state.pop(f'norm3.{name}')
    state['head.weight'], state['head.bias'] = torch.randn(1000, 768), torch.zeros(1000)
    torch.save({'model': state, 'epoch': 300}, path)


@pytest.fixture(scope='module')
def backbones(tmp_path_factory):
    """{'init': LITv2-S from init_weights(), 'trained': LITv2-S loaded from an authors'
    layout file}, both in eval mode."""
    torch.manual_seed(0)
    init = LITv2(arch='small', drop_path_rate=0.)
    init.init_weights()
    path = tmp_path_factory.mktemp('ckpt') / 'litv2_s_authors.pth'
    authors_imagenet_file(path)
    trained = LITv2(arch='small', drop_path_rate=0.,
                    init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    trained.init_weights()
    offsets = [m.conv_offset.weight.abs().sum().item() for m in trained.modules()
               if hasattr(m, 'conv_offset')]
    assert len(offsets) == 3 and min(offsets) > 0  # the checkpoint's offsets were loaded
    return dict(init=init.eval(), trained=trained.eval())


def stage_outputs(model, x, dtype=None):
    with torch.no_grad(), torch.autocast('cpu', dtype=dtype or torch.float32,
                                         enabled=dtype is not None):
        return model(x)


@pytest.mark.parametrize('weights', ['init', 'trained'])
@pytest.mark.parametrize('dtype', DTYPES, ids=['fp16', 'bf16'])
def test_stage_outputs_under_autocast_at_224(backbones, weights, dtype):
    skip_unless_cpu_bf16(dtype)
    model = backbones[weights]
    torch.manual_seed(0)
    x = torch.randn(2, 3, 224, 224)
    fp32 = stage_outputs(model, x)
    ref = stage_outputs(reference_litv2(model), x)
    low = stage_outputs(model, x, dtype)
    for i, (a, b, r) in enumerate(zip(low, fp32, ref)):
        assert torch.isfinite(a).all(), f'stage {i + 1}'
        assert rel_diff(a, b) <= FWD_TOL[dtype], f'stage {i + 1}: {rel_diff(a, b):.2%} vs fp32'
        assert rel_diff(a, r) <= FWD_TOL[dtype], f'stage {i + 1}: {rel_diff(a, r):.2%} vs ref'


@pytest.mark.slow  # 800 x 1344: over a minute in fp16 on a CPU without fp16 kernels
@pytest.mark.parametrize('dtype', DTYPES, ids=['fp16', 'bf16'])
def test_stage_outputs_under_autocast_at_a_detection_size(backbones, dtype):
    """800 x 1344, batch 1, trained-like weights: the map where half-precision positions
    were off by up to 2 pixels."""
    skip_unless_cpu_bf16(dtype)
    model = backbones['trained']
    torch.manual_seed(0)
    x = torch.randn(1, 3, 800, 1344)
    fp32 = stage_outputs(model, x)
    low = stage_outputs(model, x, dtype)
    for i, (a, b) in enumerate(zip(low, fp32)):
        assert rel_diff(a, b) <= FWD_TOL[dtype], f'stage {i + 1}: {rel_diff(a, b):.2%}'


@pytest.mark.parametrize('mode', ['train', 'eval'])
@pytest.mark.parametrize('dtype', DTYPES, ids=['fp16', 'bf16'])
def test_gradients_under_autocast_are_finite_and_close_to_fp32(backbones, dtype, mode):
    """The loss of a random projection of every stage output, as in a training step under
    ``--amp`` (fp16 with a loss scale of 2**16, the initial scale of ``--amp``'s dynamic
    loss scaler)."""
    skip_unless_cpu_bf16(dtype)
    model = backbones['trained'].train(mode == 'train')
    try:
        torch.manual_seed(0)
        x = torch.randn(2, 3, 160, 192)
        weights = None
        grads = {}
        for key, enabled in (('fp32', False), ('low', True)):
            model.zero_grad()
            with torch.autocast('cpu', dtype=dtype, enabled=enabled):
                outs = model(x)
            if weights is None:
                weights = [torch.randn(o.shape) for o in outs]
            # fp16 gradients this small underflow without the loss scale --amp applies
            scale = 2. ** 16 if enabled and dtype == torch.float16 else 1.
            (scale * sum((o.float() * w).mean() for o, w in zip(outs, weights))).backward()
            grads[key] = {n: p.grad / scale for n, p in model.named_parameters()}
    finally:
        model.eval()
    total, each = GRAD_TOL[mode, dtype]
    flat = [torch.cat([g.flatten() for g in grads[k].values()]) for k in ('low', 'fp32')]
    assert rel_diff(*flat) <= total, f'all gradients: {rel_diff(*flat):.2%}'
    # BatchNorm makes the true gradient of DTM's conv bias zero: such tensors are left out
    largest = max(g.norm().item() for g in grads['fp32'].values())
    for name, g in grads['fp32'].items():
        low = grads['low'][name]
        assert torch.isfinite(low).all(), name
        if g.norm() > 1e-3 * largest:
            assert rel_diff(low, g) <= each, f'{name}: {rel_diff(low, g):.2%}'
