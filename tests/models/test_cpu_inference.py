"""The CPU inference speed-ups compute what the plain model computes (within 1e-5 in fp32,
1 % in bf16): chunks of images, bands of rows with their halo, fused conv + GELU, fused norm
and residual; they apply where :func:`compute_dtype` says so and can be switched off."""
import pytest
import torch

from litv2_mm.models import ConvFFN, HiLoAttention, LITv2, cpu_inference
from litv2_mm.models.convffn import DepthwiseConv

from helpers import TINY, assert_rel_close, skip_unless_cpu_bf16


def random_ffn_and_norm(dim=8, hidden=32):
    torch.manual_seed(0)
    ffn, norm = ConvFFN(dim, hidden).eval(), torch.nn.LayerNorm(dim)
    for p in [*ffn.parameters(), *norm.parameters()]:
        torch.nn.init.normal_(p)
    return ffn, norm


# chunk sizes (elements of the hidden activation, hidden = 32) that force every chunking:
# several images per chunk, one image per chunk, bands of 2, 3 or 5 rows with a last band
# of 1 row, everything at once
@pytest.mark.parametrize('chunk', [1, 32 * 7 * 3, 32 * 9 * 5, 32 * 63, 32 * 63 * 2, 2 ** 21])
@pytest.mark.parametrize('H,W', [(1, 1), (1, 9), (7, 1), (2, 2), (7, 9), (11, 9), (16, 16)])
def test_ffn_residual_equals_the_plain_block_half(chunk, H, W):
    ffn, norm = random_ffn_and_norm()
    x = torch.randn(3, H * W, 8)
    with torch.no_grad():
        out = cpu_inference.ffn_residual(x, norm, ffn, H, W, chunk_elements=chunk)
        expected = x + ffn(norm(x), H, W)
    assert_rel_close(out, expected)
    assert out.data_ptr() != x.data_ptr()  # the input is left alone


@pytest.mark.parametrize('chunk', [32 * 9 * 5, 32 * 63 * 2, 2 ** 21])
@pytest.mark.parametrize('H,W', [(1, 9), (11, 9), (16, 16)])
def test_ffn_residual_in_bf16_is_the_block_half_to_bf16_precision(chunk, H, W):
    skip_unless_cpu_bf16()
    ffn, norm = random_ffn_and_norm()
    x = torch.randn(3, H * W, 8)
    with torch.no_grad():
        out = cpu_inference.ffn_residual(x, norm, ffn, H, W, chunk_elements=chunk,
                                         dtype=torch.bfloat16)
        expected = x + ffn(norm(x), H, W)
    assert out.dtype == torch.float32  # the residual stream stays fp32
    assert_rel_close(out, expected, tol=2e-2)


@pytest.mark.parametrize('fused', [True, False])
@pytest.mark.parametrize('padding', [(1, 1), (0, 1)])
def test_conv_gelu_equals_conv_then_exact_gelu(fused, padding):
    if fused and not cpu_inference._FUSED_CONV_GELU:
        pytest.skip('this PyTorch has no oneDNN conv + GELU kernel')
    conv = DepthwiseConv(16)
    conv.init_weights()
    torch.nn.init.normal_(conv.dwconv.bias)
    x = torch.randn(2, 5, 7, 16).permute(0, 3, 1, 2)  # channels-last, as the chunks have it
    with torch.no_grad():
        out = cpu_inference.conv_gelu_channels_last(x, conv.dwconv, padding, fused=fused)
        expected = torch.nn.functional.gelu(torch.nn.functional.conv2d(
            x.contiguous(), conv.dwconv.weight, conv.dwconv.bias, padding=padding, groups=16))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.permute(0, 2, 3, 1).is_contiguous()  # still channels-last for fc2


@pytest.mark.parametrize('chunk', [1, 2 ** 11, 2 ** 21])  # 1 image, a few, the whole batch
@pytest.mark.parametrize('ws,alpha,H,W', [(2, 0.5, 6, 6), (3, 0.9, 9, 6), (1, 0.9, 5, 4),
                                          (2, 0.0, 4, 4), (2, 1.0, 4, 6)])
def test_hilo_by_image_groups_equals_all_images_at_once(chunk, ws, alpha, H, W):
    torch.manual_seed(0)
    attn = HiLoAttention(64, 4, qkv_bias=True, window_size=ws, alpha=alpha).eval()
    x = torch.randn(5, H, W, 64)
    with torch.no_grad():
        out = cpu_inference.hilo_by_image_groups(attn, x, chunk_elements=chunk)
        expected = attn.hilo(x)
    assert_rel_close(out, expected)


@pytest.mark.parametrize('arch,size,batch,bands', [
    (TINY, (1, 1), 2, False), (TINY, (37, 61), 3, False), (TINY, (250, 330), 2, False),
    # stage 1 of one 320 x 352 image (80 x 88 tokens x 384 hidden) exceeds a chunk: row bands
    ('small', (320, 352), 1, True),
])
def test_backbone_with_speed_ups_equals_the_plain_backbone(monkeypatch, arch, size, batch, bands):
    calls = []
    row_bands = cpu_inference._row_bands
    monkeypatch.setattr(cpu_inference, '_row_bands', lambda *a: calls.append(1) or row_bands(*a))
    torch.manual_seed(0)
    model = LITv2(arch=arch).eval()
    x = torch.randn(batch, 3, *size)
    with torch.no_grad():
        with cpu_inference.cpu_speedups(False):
            plain = model(x)
        fast = model(x)
    for i, (a, b) in enumerate(zip(fast, plain)):
        assert_rel_close(a, b, msg=f'output {i}')
        assert a.is_contiguous()
    assert bool(calls) == bands


def test_speed_ups_apply_only_to_cpu_inference_in_eval_mode_in_fp32_or_bf16():
    ffn, _ = random_ffn_and_norm()
    x = torch.randn(1, 4, 8)
    assert cpu_inference.compute_dtype(x, ffn) is None  # autograd on
    with torch.no_grad():
        assert cpu_inference.compute_dtype(x, ffn) == torch.float32
        assert cpu_inference.compute_dtype(x.double(), ffn) is None
        assert cpu_inference.compute_dtype(x, ffn.train()) is None  # dropout may act
        ffn.eval()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert cpu_inference.compute_dtype(x, ffn) == torch.bfloat16
        with torch.autocast('cpu', dtype=torch.float16):
            assert cpu_inference.compute_dtype(x, ffn) is None
        with cpu_inference.cpu_speedups(False):
            assert cpu_inference.compute_dtype(x, ffn) is None
        assert cpu_inference.compute_dtype(x, ffn) == torch.float32  # switched on again
        seen = []  # a tracer records the plain model
        torch.jit.trace(lambda t: seen.append(cpu_inference.compute_dtype(t, ffn)) or t + 1,
                        x, check_trace=False)
        assert seen == [None]


def test_the_environment_variable_switches_the_speed_ups_off():
    import subprocess
    import sys
    code = 'from litv2_mm.models import cpu_inference as c; print(c.cpu_speedups_enabled())'
    for value, expected in (('0', 'False'), ('1', 'True')):
        out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                             env={**__import__('os').environ, 'LITV2_CPU_SPEEDUPS': value})
        assert out.stdout.strip() == expected, out.stderr


def test_backbone_in_bf16_with_speed_ups_equals_the_plain_backbone_in_bf16(monkeypatch):
    """Under bf16 autocast, the chunked bf16 path (row bands included) against the plain
    model under the same autocast, both against fp32."""
    skip_unless_cpu_bf16()
    calls = []
    row_bands = cpu_inference._row_bands
    monkeypatch.setattr(cpu_inference, '_row_bands', lambda *a: calls.append(1) or row_bands(*a))
    torch.manual_seed(0)
    model = LITv2(arch='small').eval()
    x = torch.randn(1, 3, 320, 352)
    with torch.no_grad():
        fp32 = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            fast = model(x)
            with cpu_inference.cpu_speedups(False):
                plain = model(x)
    assert calls
    for i, (a, b, c) in enumerate(zip(fast, plain, fp32)):
        assert_rel_close(a.float(), b.float(), 3e-2, f'output {i}, fast vs plain bf16')
        assert_rel_close(a.float(), c, 3e-2, f'output {i}, fast bf16 vs fp32')
