"""ConvFFN: the chunked CPU inference path and the folded fc1 bias equal the plain
Linear -> dwconv -> GELU -> Linear."""
import math

import pytest
import torch

import litv2_mm.models.cpu_chunks as cpu_chunks
from litv2_mm.models import ConvFFN, ReferenceConvFFN
import litv2_mm.models.convffn as convffn
from litv2_mm.models.convffn import DepthwiseConv, conv_gelu_channels_last


@pytest.mark.parametrize('H,W', [(1, 1), (1, 5), (4, 1), (2, 2), (7, 9), (28, 28)])
def test_fast_convffn_equals_the_plain_one(H, W):
    torch.manual_seed(0)
    fast = ConvFFN(8, 32)
    for p in fast.parameters():
        torch.nn.init.normal_(p)
    plain = ReferenceConvFFN(8, 32)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(2, H * W, 8, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    with torch.no_grad():  # the folded, in-place inference path
        torch.testing.assert_close(fast(x, H, W), plain(x2, H, W), rtol=1e-5,
                                   atol=1e-5 * plain(x2, H, W).abs().max().item())
    out, ref = fast(x, H, W), plain(x2, H, W)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    grad = torch.randn_like(out)
    out.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5 * x2.grad.abs().max().item())
    for (name, p), q in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-5 * q.grad.abs().max().item(),
                                   msg=name)


def test_key_names_are_the_authors():
    assert set(ConvFFN(4, 16).state_dict()) == {
        'fc1.weight', 'fc1.bias', 'dwconv.dwconv.weight', 'dwconv.dwconv.bias', 'fc2.weight',
        'fc2.bias'}


def _random_pair(dim=8, hidden=32):
    torch.manual_seed(0)
    fast = ConvFFN(dim, hidden)
    for p in fast.parameters():
        torch.nn.init.normal_(p)
    plain = ReferenceConvFFN(dim, hidden)
    plain.load_state_dict(fast.state_dict())
    return fast, plain


# budgets (in hidden-activation elements, hidden = 32) that force every chunking: several
# images per chunk, one image per chunk, bands of 2, 3 or 5 rows with a last band of 1 row
@pytest.mark.parametrize('budget', [1, 32 * 7 * 3, 32 * 9 * 5, 32 * 63, 32 * 63 * 2, 2 ** 21])
@pytest.mark.parametrize('H,W', [(1, 1), (1, 9), (7, 1), (2, 2), (7, 9), (11, 9), (16, 16)])
@pytest.mark.parametrize('fused', [True, False])
def test_chunked_cpu_inference_equals_the_plain_convffn(monkeypatch, budget, H, W, fused):
    if fused and not convffn._FUSED_CONV_GELU:
        pytest.skip('this PyTorch has no oneDNN conv + GELU kernel')
    monkeypatch.setattr(cpu_chunks, 'CPU_CHUNK_ELEMENTS', budget)
    monkeypatch.setattr(convffn, '_FUSED_CONV_GELU', fused)
    fast, plain = _random_pair()
    x = torch.randn(3, H * W, 8)
    with torch.no_grad():
        assert fast._can_chunk(x)
        out, ref = fast(x, H, W), plain(x, H, W)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())


@pytest.mark.parametrize('budget', [1, 32 * 9 * 5, 2 ** 21])
@pytest.mark.parametrize('H,W', [(1, 1), (7, 9), (11, 9)])
def test_fused_norm_and_residual_equal_the_block_written_plainly(monkeypatch, budget, H, W):
    monkeypatch.setattr(cpu_chunks, 'CPU_CHUNK_ELEMENTS', budget)
    fast, plain = _random_pair()
    norm = torch.nn.LayerNorm(8)
    torch.nn.init.normal_(norm.weight)
    x = torch.randn(3, H * W, 8)
    with torch.no_grad():
        out = fast.residual(x, norm, H, W)
        ref = x + plain(norm(x), H, W)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    assert out.data_ptr() != x.data_ptr()  # the input is left alone


@pytest.mark.parametrize('fused', [True, False])
@pytest.mark.parametrize('padding', [(1, 1), (0, 1)])
def test_conv_gelu_equals_conv_then_exact_gelu(monkeypatch, fused, padding):
    if fused and not convffn._FUSED_CONV_GELU:
        pytest.skip('this PyTorch has no oneDNN conv + GELU kernel')
    monkeypatch.setattr(convffn, '_FUSED_CONV_GELU', fused)
    conv = DepthwiseConv(16)
    conv.init_weights()
    torch.nn.init.normal_(conv.dwconv.bias)
    x = torch.randn(2, 5, 7, 16).permute(0, 3, 1, 2)  # channels-last, as the chunked path has it
    with torch.no_grad():
        out = conv_gelu_channels_last(x, conv.dwconv, padding)
        ref = torch.nn.functional.gelu(torch.nn.functional.conv2d(
            x.contiguous(), conv.dwconv.weight, conv.dwconv.bias, padding=padding, groups=16))
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert out.permute(0, 2, 3, 1).is_contiguous()  # still channels-last for fc2


def test_chunked_path_is_only_taken_where_it_is_exact():
    fast, _ = _random_pair()
    x = torch.randn(1, 4, 8)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        assert not fast._can_chunk(x)
    assert not fast._can_chunk(x.double())
    dropping = ConvFFN(8, 32, drop=0.5).train()
    assert not dropping._can_chunk(x) and dropping.eval()._can_chunk(x)


def test_depthwise_conv_init_is_the_authors():
    conv = DepthwiseConv(4096)
    conv.init_weights()
    assert conv.dwconv.bias.abs().max() == 0
    assert conv.dwconv.weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.02)
