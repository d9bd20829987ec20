"""tools/analysis/speed_table.py on tiny inputs: the CSV round trip, every field of a measured
row, --append, and the flags it refuses."""
import csv
import datetime
import os.path as osp

import pytest

from litv2_mm.analysis.speed_table import FIELDS, SpeedRow, backbone_rows, read_csv, write_csv

TINY_RUN = ['--archs', 'litv2_s', '--shapes', '64x64', '--batches', '1', '--precisions', 'fp32',
            '--no-compile', '--runs', '1', '--warmup', '0', '--no-memory', '--parts',
            'backbones']


def old_row(**changes):
    row = dict(model='retinanet_litv2_s', task='detection', input_size='800x1333', batch=1,
               precision='int8', runtime='openvino', mode='graph', img_per_s=2.5,
               latency_ms=400.0, peak_memory_mb=None, cpu='Some CPU',
               versions='torch 2.13.0; openvino 2026.4.1', date='2026-01-02T03:04Z',
               note='a, "quoted" note')
    return SpeedRow(**{**row, **changes})


def today_utc():
    return datetime.datetime.now(datetime.timezone.utc).date().isoformat()


def test_csv_round_trip(tmp_path):
    rows = [old_row(), old_row(model='litv2_s', task='backbone', input_size='224x224', batch=16,
                               precision='bf16', runtime='pytorch', mode='compiled',
                               img_per_s=1234.5, latency_ms=12.96, peak_memory_mb=567.25,
                               note='')]
    path = tmp_path / 'sub' / 'speed.csv'
    write_csv(rows, str(path))
    with open(path, newline='') as f:
        lines = list(csv.reader(f))
    assert lines[0] == FIELDS
    assert lines[1][FIELDS.index('peak_memory_mb')] == ''  # not measured: empty
    assert lines[2][FIELDS.index('img_per_s')] == '1234.50'  # no exponent, no float noise
    assert read_csv(str(path)) == rows


@pytest.mark.slow  # a subprocess that times a backbone (4-7 s)
def test_cli_writes_every_field(run_tool, tmp_path):
    before = today_utc()
    out = tmp_path / 'speed.csv'
    proc = run_tool('analysis/speed_table.py', '--out', out, *TINY_RUN, timeout=120)
    rows = read_csv(str(out))
    assert len(rows) == 1
    row = rows[0]
    assert (row.model, row.task, row.input_size, row.batch, row.precision, row.runtime,
            row.mode) == ('litv2_s', 'backbone', '64x64', 1, 'fp32', 'pytorch', 'eager')
    assert row.img_per_s > 0 and row.latency_ms > 0
    assert row.img_per_s == pytest.approx(row.batch / row.latency_ms * 1e3, rel=2e-3)
    assert row.peak_memory_mb is None  # --no-memory
    assert row.cpu.strip() and row.versions.startswith('torch ') and row.note
    assert row.date[:10] in (before, today_utc()) and row.date.endswith('Z')
    datetime.datetime.strptime(row.date, '%Y-%m-%dT%H:%MZ')
    with open(tmp_path / 'speed.png', 'rb') as f:  # the plot, beside the CSV
        assert f.read(8) == b'\x89PNG\r\n\x1a\n'
    assert '| litv2_s | backbone | 64x64 | 1 | fp32 | pytorch | eager |' in proc.stdout
    assert '[speed_table] litv2_s 64x64 batch 1 pytorch eager fp32:' in proc.stdout


def test_append_keeps_old_rows(load_tool, tmp_path, capsys):
    out = str(tmp_path / 'speed.csv')
    write_csv([old_row()], out)
    rows = load_tool('analysis/speed_table').main(
        ['--out', out, '--plot', str(tmp_path / 'chart.png'), '--append', *TINY_RUN])
    written = read_csv(out)
    assert written[0] == old_row() and rows[0] == old_row()
    assert [r.model for r in written] == [r.model for r in rows] == ['retinanet_litv2_s',
                                                                      'litv2_s']
    assert written[1].img_per_s == pytest.approx(rows[1].img_per_s, rel=1e-3)
    assert osp.isfile(tmp_path / 'chart.png')
    assert capsys.readouterr().out.count('| retinanet_litv2_s |') == 1


@pytest.mark.parametrize('argv,message', [
    (['--shapes', '224'], '--shapes takes HxW'),
    (['--shapes', '224x16'], '--shapes takes HxW'),
    (['--archs', 'litv2_x'], "argument --archs: invalid choice: 'litv2_x'"),
    (['--runs', '0'], '--runs must be an integer >= 1'),
    (['--warmup', '-1'], '--warmup must be an integer >= 0'),
    (['--shapes', '224x224', '64x64', '--batches', '1', '2', '3'], '--batches takes one'),
    (['--precisions', 'fp16'], 'argument --precisions: invalid choice'),
])
def test_bad_flags_are_named(load_tool, capsys, argv, message):
    with pytest.raises(SystemExit) as exit_:
        load_tool('analysis/speed_table').parse_args(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_append_refuses_a_csv_with_other_columns(load_tool, capsys, tmp_path):
    out = tmp_path / 'other.csv'
    out.write_text('model,img/s\nlitv2_s,10\n')
    with pytest.raises(SystemExit) as exit_:
        load_tool('analysis/speed_table').parse_args(['--out', str(out), '--append'])
    assert exit_.value.code == 2
    assert "--append: " in capsys.readouterr().err
    assert out.read_text() == 'model,img/s\nlitv2_s,10\n'  # left as it was


@pytest.mark.slow  # torch.compile (a minute on a small CPU)
def test_compiled_row_comes_after_an_untimed_compilation():
    rows = backbone_rows(['litv2_s'], [(64, 64)], precisions=['fp32'], compiled=True, runs=1,
                         warmup=0, batch_for_shape=lambda shape: 1, memory=False)
    assert [(r.mode, r.precision) for r in rows] == [('eager', 'fp32'), ('compiled', 'fp32')]
    compiled = rows[1]
    assert '1 warm-up (the first one compiles)' in compiled.note
    assert compiled.img_per_s == pytest.approx(1e3 / compiled.latency_ms)
