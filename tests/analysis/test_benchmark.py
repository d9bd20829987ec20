"""Benchmark tools on tiny inputs: the compare table and the CPU peak-memory probe."""
import pytest
import torch
import torch.nn as nn
from mmcv.cnn.bricks import DropPath

from litv2_mm.analysis.benchmark import (Settings, make_forward_step, make_step,
                                         measure_peak_memory, set_mode)

from helpers import skip_unless_cpu_bf16


def test_compare_prints_one_row_per_model(capsys, load_tool):
    tool = load_tool('analysis/benchmark')
    results = tool.main(['--compare', 'litv2_s', 'litv2_s:reference', 'resnet50',
                         '--batch', '1', '--shape', '32', '--runs', '1', '--warmup', '0',
                         '--no-memory', '--no-progress'])
    out = capsys.readouterr().out
    assert [r.name for r in results] == ['litv2_s:fast', 'litv2_s:reference', 'resnet50']
    rows = [line for line in out.splitlines() if line.startswith('| ') and 'imgs/s' not in line]
    assert [row.split('|')[1].strip() for row in rows] == [r.name for r in results]
    assert rows[0].rstrip().endswith('| 1.00x |')
    assert 'torch ' in out and 'cores' in out


def test_several_precisions_time_every_model_in_each(capsys, load_tool):
    skip_unless_cpu_bf16()
    tool = load_tool('analysis/benchmark')
    results = tool.main(['--compare', 'litv2_s', 'resnet50', '--dtype', 'fp32', 'bf16',
                         '--batch', '1', '--shape', '32', '--runs', '2', '--warmup', '0',
                         '--no-memory', '--no-progress'])
    assert [r.name for r in results] == ['litv2_s:fast fp32', 'litv2_s:fast bf16',
                                         'resnet50 fp32', 'resnet50 bf16']
    assert all(len(r.times) == 2 for r in results)
    assert 'fp32 / autocast bf16 (fp32 weights)' in capsys.readouterr().out


def test_breakdown_prints_time_by_kind_for_every_model(capsys, load_tool):
    tool = load_tool('analysis/benchmark')
    tool.main(['--compare', 'litv2_s', 'litv2_s:reference', '--batch', '1', '--shape', '32',
               '--runs', '1', '--warmup', '0', '--no-memory', '--no-progress', '--breakdown'])
    table = capsys.readouterr().out.split('by kind of op')[1]
    rows = [line.split('|') for line in table.splitlines() if line.startswith('| litv2')]
    assert [r[1].strip() for r in rows] == ['litv2_s:fast', 'litv2_s:reference']
    assert all(float(r[3]) > 0 for r in rows)  # both spend time in GEMMs


def test_breakdown_needs_the_cpu(capsys, load_tool):
    tool = load_tool('analysis/benchmark')
    with pytest.raises(SystemExit):
        tool.parse_args(['--arch', 'litv2_s', '--device', 'cuda', '--breakdown'])
    assert '--breakdown profiles CPU ops' in capsys.readouterr().err


def test_compare_rejects_a_bad_spec(capsys, load_tool):
    tool = load_tool('analysis/benchmark')
    with pytest.raises(SystemExit):
        tool.parse_args(['--compare', 'litv2_s:slow'])
    assert "implementation must be one of" in capsys.readouterr().err


@pytest.mark.parametrize('argv,message', [(['--batch', '0'], '--batch must be an integer >= 1'),
                                          (['--warmup', '-1'], '--warmup must be an integer >= 0'),
                                          (['--shape', '0', '4'], '--shape takes H W')])
def test_bad_numbers_are_named(capsys, load_tool, argv, message):
    tool = load_tool('analysis/benchmark')
    with pytest.raises(SystemExit):
        tool.parse_args(['--arch', 'litv2_s', *argv])
    assert message in capsys.readouterr().err


@pytest.mark.slow  # a child process
def test_cpu_peak_memory_is_positive():
    peak = measure_peak_memory('litv2_s', Settings(batch=1, shape=(32, 32)))
    assert peak > 0


def test_train_step_runs_backward(capsys, load_tool):
    tool = load_tool('analysis/benchmark')
    # 64 x 64: DTM's BatchNorm needs more than one value per channel in train mode.
    (result, ) = tool.main(['--arch', 'litv2_s', '--batch', '1', '--shape', '64', '--runs', '1',
                            '--warmup', '0', '--train-step', '--no-memory', '--no-progress'])
    assert result.times[0] > 0
    assert 'train step (forward + backward)' in capsys.readouterr().out


def tiny_model():
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5), DropPath(0.5),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 2))


@pytest.mark.parametrize('backward', [False, True])
def test_make_step_sets_gradients_only_when_training(backward):
    model = tiny_model()
    step = make_step(model, Settings(batch=2, shape=(8, 8)), backward=backward)
    step()
    assert model.training == backward
    grads = [p.grad for p in model.parameters()]
    if backward:
        assert all(g is not None for g in grads)
        assert not model[2].training and not model[3].training  # dropout, drop path off
    else:
        assert all(g is None for g in grads)


def test_training_steps_do_not_accumulate_gradients_and_skip_dropout():
    model = set_mode(tiny_model(), True)
    x = torch.randn(2, 3, 8, 8, requires_grad=True)
    step = make_forward_step(lambda: model(x), backward=True, tensors=[*model.parameters(), x])
    step()
    first = [model[5].weight.grad.clone(), x.grad.clone()]
    step()  # the same work (no random masks), gradients set to None before it
    torch.testing.assert_close([model[5].weight.grad, x.grad], first)


def test_both_modes_side_by_side(capsys, load_tool):
    tool = load_tool('analysis/benchmark')
    results = tool.main(['--arch', 'litv2_s', '--batch', '1', '--shape', '64', '--runs', '1',
                         '--warmup', '0', '--mode', 'inference', 'training', '--no-memory',
                         '--no-progress'])
    assert [(r.name, r.mode, r.row) for r in results] == [
        ('litv2_s:fast inference', 'inference', 'litv2_s:fast'),
        ('litv2_s:fast training', 'training', 'litv2_s:fast')]
    assert all(len(r.times) == 1 for r in results)
    out = capsys.readouterr().out
    assert 'inference, no grad / train step (forward + backward' in out
    header, _, row = [line for line in out.splitlines() if line.startswith('|')]
    for mode in ('inference', 'training'):
        assert f'| {mode} ms/iter | {mode} imgs/s |' in header
    assert header.rstrip().endswith('| training / inference time |')
    assert row.startswith('| litv2_s:fast | backbone |') and row.count('| 1.00x') == 2


@pytest.mark.parametrize('argv,message', [
    (['--mode', 'inference', '--train-step'], '--train-step is --mode training'),
    (['--mode', 'training', 'training'], '--mode: each mode once')])
def test_bad_modes_are_named(capsys, load_tool, argv, message):
    tool = load_tool('analysis/benchmark')
    with pytest.raises(SystemExit):
        tool.parse_args(['--arch', 'litv2_s', *argv])
    assert message in capsys.readouterr().err
