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
    assert set(speeds['cpu']['inference']) == set(comparison_layers(64, 4))
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


def test_comparison_layers_take_the_windows_and_alpha():
    layers = comparison_layers(64, 4, window_size=8, alpha=0.5, local_window=8)
    assert 'local window (8)' in layers and layers['local window (8)'].ws == 8
    hilo = layers['HiLo (fast)']
    assert (hilo.window_size, hilo.hifi_heads, hilo.lofi_heads) == (8, 2, 2)
    assert layers['HiLo (reference)'].ws == 8


@pytest.mark.parametrize('mode', ['inference', 'training'])
def test_attention_benchmark_steps_set_gradients_only_in_training(load_tool, mode):
    tool = load_tool('analysis/attention_benchmark')
    args = tool.parse_args(['--batch', '1', '--tokens', '8', '--dim', '32', '--heads', '2',
                            '--window', '4', '--alpha', '0.5', '--mode', mode])
    layers = tool.make_layers('cpu', args)
    steps = tool.make_steps('cpu', args, layers)
    assert set(steps) == {(name, mode) for name in comparison_layers(32, 2, 4, 0.5, 4)}
    for key, step in steps.items():
        step()
        layer, x = layers[key]
        grads = [p.grad for p in layer.parameters()]
        if mode == 'training':
            assert layer.training and all(g is not None for g in grads), key
            assert x.grad is not None and x.grad.shape == x.shape, key
        else:
            assert not layer.training and all(g is None for g in grads), key
            assert not x.requires_grad, key


def test_attention_benchmark_prints_both_modes_side_by_side(tmp_path, capsys, load_tool):
    tool = load_tool('analysis/attention_benchmark')
    speeds = tool.main(['--batch', '1', '--tokens', '8', '--dim', '32', '--heads', '2',
                        '--window', '4', '--alpha', '0.5', '--mode', 'inference', 'training',
                        '--runs', '2', '--warmup', '0', '--devices', 'cpu', '--no-progress',
                        '--out', str(tmp_path / 'chart.png'), '--no-breakdown'])
    assert list(speeds['cpu']) == ['inference', 'training']
    assert all(v > 0 for by_name in speeds['cpu'].values() for v in by_name.values())
    printed = capsys.readouterr().out
    header = next(line for line in printed.splitlines() if line.startswith('| layer'))
    for mode in ('inference', 'training'):
        assert f'CPU {mode} ms/iter | CPU {mode} imgs/s | CPU {mode} vs MSA (SDPA)' in header
    msa = next(line for line in printed.splitlines() if line.startswith('| MSA (SDPA) |'))
    assert msa.count('| 1.00x') == 2
    assert '| local window (4) |' in printed
    assert 'HiLo window 4 alpha 0.5 (1 Hi-Fi / 1 Lo-Fi heads)' in printed


@pytest.mark.parametrize('argv,message', [
    (['--tokens', '14', '--window', '8'], '--tokens 14 must be a multiple of --window 8'),
    (['--tokens', '15'], '--tokens 15 must be even'),
    (['--alpha', '1.5'], '--alpha must lie in [0, 1]'),
    (['--window', '0'], '--window must be an integer >= 1'),
    (['--mode', 'training', 'training'], '--mode: each mode once'),
])
def test_attention_benchmark_flags_are_checked(capsys, load_tool, argv, message):
    tool = load_tool('analysis/attention_benchmark')
    with pytest.raises(SystemExit):
        tool.parse_args(argv)
    assert message in capsys.readouterr().err
