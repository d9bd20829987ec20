"""Benchmark tools on tiny inputs: the compare table and the CPU peak-memory probe."""
import pytest

from litv2_mm.analysis.benchmark import Settings, measure_peak_memory


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
