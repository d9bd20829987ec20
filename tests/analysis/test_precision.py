"""tools/analysis/precision.py: stage outputs under autocast against fp32, as a table."""
import torch

from litv2_mm.analysis.precision import autocast_errors, relative_difference

from helpers import skip_unless_cpu_bf16


def test_relative_difference_by_hand():
    b = torch.tensor([3., 4.])
    assert relative_difference(torch.tensor([3., 4.]), b) == 0
    assert abs(relative_difference(torch.tensor([3., 5.]), b) - 0.2) < 1e-7


def test_autocast_errors_of_a_linear_layer_are_its_dtypes_rounding():
    torch.manual_seed(0)
    layer = torch.nn.Linear(64, 64)
    x = torch.randn(8, 64)
    errors = autocast_errors(layer, x, [torch.float16, torch.bfloat16])
    # one rounding of inputs and weights: about 2**-11 (fp16) and 2**-8 (bf16) relative
    assert 1e-5 < errors[torch.float16][0] < 2e-3
    assert 1e-3 < errors[torch.bfloat16][0] < 1e-2


def test_the_tool_prints_every_stage_within_the_tolerances(load_tool, capsys):
    skip_unless_cpu_bf16()
    tool = load_tool('analysis/precision')
    errors = tool.main(['--arch', 'small', '--shape', '96', '128', '--batch', '1',
                        '--offset-std', '0.02'])
    out = capsys.readouterr().out
    assert '| fp16 |' in out and '| bf16 |' in out and 'DTM offsets N(0, 0.02)' in out
    assert max(errors[torch.float16]) <= 0.005 and max(errors[torch.bfloat16]) <= 0.02
    assert all(len(e) == 4 for e in errors.values())
