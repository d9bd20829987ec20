"""The CPU time breakdown: op kinds, and a recorded profile's ops landing in their kind (no
timing ratios: the figures themselves are the benchmarks' business)."""
import pytest
import torch
import torch.nn.functional as F

from litv2_mm.analysis.time_breakdown import (KINDS, by_kind, floor, format_breakdown, kind_of,
                                              self_times, time_by_kind)


@pytest.mark.parametrize('op, kind', [
    ('aten::addmm', 'GEMM'), ('aten::bmm', 'GEMM'), ('mkldnn::_linear_pointwise', 'GEMM'),
    ('aten::_scaled_dot_product_flash_attention_for_cpu', 'attention'),
    ('aten::_softmax', 'attention'), ('mkldnn::_convolution_pointwise', 'convolution'),
    ('aten::mkldnn_convolution', 'convolution'), ('aten::copy_', 'copy'), ('aten::cat', 'copy'),
    ('aten::gelu', 'other'), ('aten::native_layer_norm', 'other')])
def test_kind_of(op, kind):
    assert kind_of(op) == kind


def test_recorded_ops_land_in_their_kind():
    a, b = torch.randn(64, 64), torch.randn(64, 64)
    wide = torch.randn(128, 128).t()

    def step():
        torch.mm(a, b)
        wide.contiguous()

    ops = self_times(step, runs=2)
    assert 'aten::mm' in ops and ('aten::copy_' in ops or 'aten::clone' in ops)
    kinds = by_kind(ops)
    for kind in KINDS:
        assert kinds[kind] == pytest.approx(sum(t for op, t in ops.items() if kind_of(op) == kind))
    assert kinds['GEMM'] >= ops['aten::mm'] > 0
    assert kinds['copy'] >= ops.get('aten::copy_', 0) + ops.get('aten::clone', 0) > 0
    assert kinds['total'] == pytest.approx(sum(ops.values()))


def test_by_kind_sums_op_times():
    kinds = by_kind({'aten::addmm': 2., 'aten::bmm': 1., 'aten::cat': .5, 'aten::gelu': .25})
    assert (kinds['GEMM'], kinds['copy'], kinds['other'], kinds['attention']) == (3., .5, .25, 0.)
    assert kinds['total'] == 3.75


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
