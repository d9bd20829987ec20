"""tools/analysis/deploy_benchmark.py: every runtime's row computes what PyTorch computes (the
timings themselves are not tested: they depend on the machine)."""
import re

import pytest

pytest.importorskip('onnxruntime')

FP32_TOL = 1e-3  # largest |runtime - PyTorch fp32| of LITv2-S's stage outputs (about 1 .. 10)


def table_rows(text):
    """{row name: max abs diff} of the printed markdown tables."""
    return {name.strip(): float(diff) for name, diff in
            re.findall(r'^\| ([^|]+) \| [0-9.]+ \| [0-9.]+ \| [0-9.]+x \| ([0-9.e+-]+|nan) \|$',
                       text, re.M)}


@pytest.mark.slow  # exports and runs LITv2-S in every runtime
@pytest.mark.openvino_in_process
def test_backbone_rows_agree_with_pytorch(load_tool, tmp_path, capsys):
    tool = load_tool('analysis/deploy_benchmark')
    assert tool.main(['--shape', '64', '96', '--no-detector', '--runs', '1', '--warmup', '0',
                      '--work-dir', str(tmp_path)]) == 0
    out = capsys.readouterr().out
    rows = table_rows(out)
    assert 'LITv2 small backbone, 64x96, batch 1' in out
    runtimes = [name for name in rows if name.endswith('fp32') and name != 'PyTorch fp32']
    assert 'onnxruntime fp32' in runtimes
    assert rows['PyTorch fp32'] == 0
    for name in runtimes:
        assert rows[name] <= FP32_TOL, (name, rows[name])


def test_argument_errors(load_tool):
    tool = load_tool('analysis/deploy_benchmark')
    for argv in (['--no-backbone', '--no-detector'], ['--shape', '16', '16'],
                 ['--detector', 'missing.py']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
