"""The CPU inference speed-ups compute what the plain model computes (within 1e-5 in fp32,
1 % in bf16): chunks of images, bands of rows with their halo, fused conv + GELU, fused norm
and residual; they apply where :func:`inference_dtype` says so, and the switch is read when a
layer is built (as timm's fused-attention flag), or set on a model."""
import pytest
import torch

from litv2_mm.models import ConvFFN, HiLoAttention, LITv2, cpu_inference
from litv2_mm.models.convffn import DepthwiseConv

from helpers import TINY, assert_rel_close, run_command, skip_unless_cpu_bf16


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
def test_residual_in_chunks_equals_the_plain_block_half(chunk, H, W):
    ffn, norm = random_ffn_and_norm()
    x = torch.randn(3, H * W, 8)
    with torch.no_grad():
        out = ffn.residual_in_chunks(x, norm, H, W, chunk_elements=chunk)
        expected = x + ffn(norm(x), H, W)
    assert_rel_close(out, expected)
    assert out.data_ptr() != x.data_ptr()  # the input is left alone


@pytest.mark.parametrize('chunk', [32 * 9 * 5, 32 * 63 * 2, 2 ** 21])
@pytest.mark.parametrize('H,W', [(1, 9), (11, 9), (16, 16)])
def test_residual_in_chunks_in_bf16_is_the_block_half_to_bf16_precision(chunk, H, W):
    skip_unless_cpu_bf16()
    ffn, norm = random_ffn_and_norm()
    x = torch.randn(3, H * W, 8)
    with torch.no_grad():
        out = ffn.residual_in_chunks(x, norm, H, W, torch.bfloat16, chunk_elements=chunk)
        expected = x + ffn(norm(x), H, W)
    assert out.dtype == torch.float32  # the residual stream stays fp32
    assert_rel_close(out, expected, tol=2e-2)


@pytest.mark.parametrize('fused', [True, False])
@pytest.mark.parametrize('padding', [(1, 1), (0, 1)])
def test_conv_gelu_equals_conv_then_exact_gelu(fused, padding):
    if fused and not cpu_inference.FUSED_CONV_GELU:
        pytest.skip('this PyTorch has no oneDNN conv + GELU kernel')
    conv = DepthwiseConv(16)
    conv.fused_gelu = fused
    conv.init_weights()
    torch.nn.init.normal_(conv.dwconv.bias)
    x = torch.randn(2, 5, 7, 16).permute(0, 3, 1, 2)  # channels-last, as the chunks have it
    with torch.no_grad():
        out = conv.conv_gelu(x, padding)
        expected = torch.nn.functional.gelu(torch.nn.functional.conv2d(
            x.contiguous(), conv.dwconv.weight, conv.dwconv.bias, padding=padding, groups=16))
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert out.permute(0, 2, 3, 1).is_contiguous()  # still channels-last for fc2


@pytest.mark.parametrize('chunk', [1, 2 ** 11, 2 ** 21])  # 1 image, a few, the whole batch
@pytest.mark.parametrize('ws,alpha,H,W', [(2, 0.5, 6, 6), (3, 0.9, 9, 6), (1, 0.9, 5, 4),
                                          (2, 0.0, 4, 4), (2, 1.0, 4, 6)])
def test_hilo_in_image_groups_equals_all_images_at_once(chunk, ws, alpha, H, W):
    torch.manual_seed(0)
    attn = HiLoAttention(64, 4, qkv_bias=True, window_size=ws, alpha=alpha).eval()
    x = torch.randn(5, H, W, 64)
    with torch.no_grad():
        out = attn.hilo_in_image_groups(x, chunk_elements=chunk)
        expected = attn.hilo(x)
    assert_rel_close(out, expected)


# stage 1 of one 320 x 352 image exceeds a chunk (80 x 88 tokens x 384 hidden), so its
# blocks run in bands of rows
BANDS = (320, 352)
assert (BANDS[0] // 4) * (BANDS[1] // 4) * 384 > cpu_inference.CHUNK_ELEMENTS


@pytest.mark.parametrize('arch,size,batch', [
    (TINY, (1, 1), 2), (TINY, (37, 61), 3), (TINY, (250, 330), 2), ('small', BANDS, 1)])
def test_backbone_with_speed_ups_equals_the_plain_backbone(arch, size, batch):
    torch.manual_seed(0)
    model = LITv2(arch=arch).eval()
    x = torch.randn(batch, 3, *size)
    with torch.no_grad():
        with cpu_inference.cpu_speedups(False, model):
            plain = model(x)
        fast = model(x)
    for i, (a, b) in enumerate(zip(fast, plain)):
        assert_rel_close(a, b, msg=f'output {i}')
        assert a.is_contiguous()


def test_speed_ups_apply_only_to_cpu_inference_in_eval_mode_in_fp32_or_bf16():
    attn = HiLoAttention(8, 2).eval()
    x = torch.randn(1, 4, 8)
    dtype = cpu_inference.inference_dtype
    assert dtype(x, attn) is None  # autograd on
    with torch.no_grad():
        assert dtype(x, attn) == torch.float32
        assert dtype(x.double(), attn) is None
        assert dtype(x, attn.train()) is None  # dropout may act
        attn.eval()
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert dtype(x, attn) == torch.bfloat16
        with torch.autocast('cpu', dtype=torch.float16):
            assert dtype(x, attn) is None
        with cpu_inference.cpu_speedups(False, attn):
            assert dtype(x, attn) is None
        assert dtype(x, attn) == torch.float32  # switched on again
        seen = []  # a tracer records the plain model
        torch.jit.trace(lambda t: seen.append(dtype(t, attn)) or t + 1, x, check_trace=False)
        assert seen == [None]


def test_the_switch_is_read_when_a_layer_is_built_or_set_on_a_model():
    """As timm's ``set_fused_attn``: the default applies to the layers built afterwards;
    ``set_cpu_speedups(enable, model)`` switches a model already built."""
    previous = cpu_inference.set_cpu_speedups(False)
    try:
        off = LITv2(arch=TINY)
    finally:
        assert cpu_inference.set_cpu_speedups(previous) is False
    on = LITv2(arch=TINY)
    switches = lambda model: {m.cpu_speedups for m in model.modules()  # noqa: E731
                              if hasattr(m, 'cpu_speedups')}
    assert switches(off) == {False} and switches(on) == {previous}
    assert cpu_inference.set_cpu_speedups(True, off) is False
    assert switches(off) == {True}


def test_the_environment_variable_switches_the_speed_ups_off():
    import sys
    code = ('from litv2_mm.models import HiLoAttention, cpu_inference as c; '
            'print(c.cpu_speedups_enabled(), HiLoAttention(8, 2).cpu_speedups)')
    out = run_command([sys.executable, '-c', code], env={'LITV2_CPU_SPEEDUPS': '0'},
                      timeout=300).stdout
    assert out.strip().splitlines()[-1] == 'False False', out
    assert HiLoAttention(8, 2).cpu_speedups is cpu_inference.cpu_speedups_enabled()


def test_backbone_in_bf16_with_speed_ups_equals_the_plain_backbone_in_bf16():
    """Under bf16 autocast, the chunked bf16 path (row bands included) against the plain
    model under the same autocast, both against fp32."""
    skip_unless_cpu_bf16()
    torch.manual_seed(0)
    model = LITv2(arch='small').eval()
    x = torch.randn(1, 3, *BANDS)
    with torch.no_grad():
        fp32 = model(x)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            fast = model(x)
            with cpu_inference.cpu_speedups(False, model):
                plain = model(x)
    for i, (a, b, c) in enumerate(zip(fast, plain, fp32)):
        assert_rel_close(a.float(), b.float(), 3e-2, f'output {i}, fast vs plain bf16')
        assert_rel_close(a.float(), c, 3e-2, f'output {i}, fast bf16 vs fp32')


def test_torch_compile_records_the_plain_forward(monkeypatch):
    """Under torch.compile the layers take their plain forward (inductor fuses it itself; the
    fused conv + GELU of the fast path has no fake kernel for its channels-last output)."""
    model = LITv2(arch=TINY).eval()
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert cpu_inference.inference_dtype(x, model.layers[0].blocks[0]) == torch.float32
        monkeypatch.setattr(torch.compiler, 'is_compiling', lambda: True)
        assert cpu_inference.inference_dtype(x, model.layers[0].blocks[0]) is None


@pytest.mark.slow
def test_a_compiled_backbone_runs_where_the_speed_ups_take_row_bands():
    # torch.compile of LITv2-S where its blocks run in row bands (here, and at 800 x 1344)
    # failed in the fast path's fused conv + GELU with dynamic shapes ("expected size
    # 384==384, stride 5456==1"; 2 min 20 s to fail, 2026-12-07)
    torch.manual_seed(0)
    model = LITv2(arch='small').eval()
    x = torch.randn(1, 3, *BANDS)
    with torch.no_grad():
        with cpu_inference.cpu_speedups(False, model):
            plain = model(x)
        compiled = torch.compile(model, dynamic=True)(x)
    for i, (a, b) in enumerate(zip(compiled, plain)):
        assert_rel_close(a, b, msg=f'output {i}')
