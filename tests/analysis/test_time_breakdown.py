"""The CPU time breakdown: op kinds, and a profiled step's time landing in the right kind."""
import pytest
import torch
import torch.nn.functional as F

from litv2_mm.analysis.time_breakdown import (KINDS, floor, format_breakdown, kind_of,
                                              time_by_kind)


@pytest.mark.parametrize('op, kind', [
    ('aten::addmm', 'GEMM'), ('aten::bmm', 'GEMM'), ('mkldnn::_linear_pointwise', 'GEMM'),
    ('aten::_scaled_dot_product_flash_attention_for_cpu', 'attention'),
    ('aten::_softmax', 'attention'), ('mkldnn::_convolution_pointwise', 'convolution'),
    ('aten::mkldnn_convolution', 'convolution'), ('aten::copy_', 'copy'), ('aten::cat', 'copy'),
    ('aten::gelu', 'other'), ('aten::native_layer_norm', 'other')])
def test_kind_of(op, kind):
    assert kind_of(op) == kind


def test_gemm_heavy_step_lands_in_gemm_and_the_copy_in_copy():
    a, b = torch.randn(256, 256), torch.randn(256, 256)
    big = torch.randn(512, 512).t()

    def gemms():
        for _ in range(20):
            torch.mm(a, b)

    def copies():
        for _ in range(20):
            big.contiguous()

    g = time_by_kind(gemms)
    assert g['GEMM'] > 0.8 * g['total'] and g['copy'] == 0
    c = time_by_kind(copies)
    assert c['copy'] > 0.8 * c['total'] and c['GEMM'] == 0
    assert g['total'] == pytest.approx(sum(g[k] for k in KINDS))


def test_attention_kernels_count_towards_the_floor():
    q = torch.randn(2, 4, 64, 32)
    s = time_by_kind(lambda: F.scaled_dot_product_attention(q, q, q), runs=2)
    assert s['attention'] > 0 and floor(s) == s['GEMM'] + s['attention'] + s['convolution']
    table = format_breakdown({'sdpa': s})
    assert table.splitlines()[2].startswith('| sdpa | ')
    assert len(table.splitlines()[0].split('|')) == len(table.splitlines()[2].split('|'))


def test_runs_must_be_positive():
    with pytest.raises(ValueError, match='runs'):
        time_by_kind(lambda: None, runs=0)
