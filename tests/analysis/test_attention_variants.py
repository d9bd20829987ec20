"""The comparison attention layers of the Fig. 6 benchmark: shapes, equivalence, FLOPs."""
import pytest
import torch

from litv2_mm.analysis.attention_variants import (PAPER_FIG6_FLOPS, MultiHeadSelfAttention,
                                                  SDPAMultiHeadSelfAttention,
                                                  SpatialReductionAttention, WindowAttention,
                                                  comparison_layers)


@pytest.mark.parametrize('H, W', [(14, 14), (8, 10)])
def test_every_layer_keeps_the_token_shape(H, W):
    x = torch.randn(2, H * W, 64)
    for name, layer in comparison_layers(dim=64, num_heads=4).items():
        assert layer.eval()(x, H, W).shape == (2, H * W, 64), name


def test_window_attention_pads_odd_maps():
    layer = WindowAttention(32, 2, window_size=7).eval()
    assert layer(torch.randn(1, 9 * 11, 32), 9, 11).shape == (1, 99, 32)


def test_window_attention_on_one_window_is_global_attention():
    torch.manual_seed(0)
    window = WindowAttention(32, 2, window_size=7).eval()
    full = MultiHeadSelfAttention(32, 2).eval()
    full.load_state_dict(window.state_dict())
    x = torch.randn(2, 49, 32)
    torch.testing.assert_close(window(x, 7, 7), full(x, 7, 7))


def test_sdpa_matches_explicit_attention():
    torch.manual_seed(0)
    explicit = MultiHeadSelfAttention(64, 4).eval()
    fused = SDPAMultiHeadSelfAttention(64, 4).eval()
    fused.load_state_dict(explicit.state_dict())
    x = torch.randn(2, 36, 64)
    torch.testing.assert_close(fused(x, 6, 6), explicit(x, 6, 6), atol=1e-5, rtol=1e-4)


def test_sra_rejects_maps_not_divisible_by_the_ratio():
    layer = SpatialReductionAttention(32, 2, sr_ratio=2)
    with pytest.raises(ValueError, match='sr_ratio'):
        layer(torch.randn(1, 35, 32), 5, 7)


def test_flops_match_the_paper_at_the_fig6_setting():
    layers = comparison_layers()  # dim 768, 12 heads
    checked = set()
    for name, layer in layers.items():
        for key, ref in PAPER_FIG6_FLOPS.items():
            if name.startswith(key):
                assert layer.flops(14, 14) == pytest.approx(ref, rel=0.05), name
                checked.add(key)
    assert checked == set(PAPER_FIG6_FLOPS)


def test_attention_benchmark_tool_writes_table_and_chart(tmp_path, capsys, load_tool):
    tool = load_tool('analysis/attention_benchmark')
    out = tmp_path / 'chart.png'
    speeds = tool.main(['--batch', '1', '--dim', '64', '--heads', '4', '--runs', '1',
                        '--warmup', '0', '--devices', 'cpu', '--no-progress', '--out', str(out)])
    assert set(speeds['cpu']) == set(comparison_layers(64, 4))
    assert out.stat().st_size > 0
    printed = capsys.readouterr().out
    speed_table, breakdown = printed.split('CPU time per iteration by kind of op')
    assert '| HiLo (fast) |' in speed_table and '| HiLo (fast) |' in breakdown
    assert 'would be' in breakdown and 'as fast as MSA (SDPA)' in breakdown


def test_attention_benchmark_breakdown_can_be_skipped(capsys, load_tool):
    tool = load_tool('analysis/attention_benchmark')
    tool.main(['--batch', '1', '--dim', '32', '--heads', '2', '--runs', '1', '--warmup', '0',
               '--devices', 'cpu', '--no-progress', '--out', '', '--no-breakdown'])
    assert 'by kind of op' not in capsys.readouterr().out
