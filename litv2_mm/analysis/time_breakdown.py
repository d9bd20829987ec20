"""Where a step's time goes on the CPU: the profiler's self time of every op it runs, grouped
by kind (GEMMs, attention kernels, convolutions, copies, the rest).

The GEMMs, attention kernels and convolutions of a model are the work its maths needs, at the
speed this machine runs those kernels; everything else (copies, layout changes, norms,
elementwise ops, Python) is overhead an implementation could in principle remove. Their sum
is therefore a floor for the step's time with today's kernels, and
``other_total / floor(this)`` bounds the speed-up over ``other`` that any implementation
of the same maths built on those kernels can reach.
"""
from typing import Any, Callable

from torch.profiler import ProfilerActivity, profile

KINDS = ('GEMM', 'attention', 'convolution', 'copy', 'other')
TITLE = 'CPU time per iteration by kind of op (torch.profiler self times, ms):'

_GEMMS = {'aten::addmm', 'aten::mm', 'aten::bmm', 'aten::baddbmm', 'aten::addbmm',
          'mkldnn::_linear_pointwise', 'mkl::_mkl_linear'}
_COPIES = {'aten::copy_', 'aten::cat', 'aten::clone', 'aten::contiguous'}


def kind_of(op_name: str) -> str:
    """The kind (one of ``KINDS``) of a profiler op name such as ``'aten::addmm'``."""
    if op_name in _GEMMS:
        return 'GEMM'
    if 'scaled_dot_product' in op_name or 'softmax' in op_name:
        return 'attention'
    if 'conv' in op_name:
        return 'convolution'
    if op_name in _COPIES:
        return 'copy'
    return 'other'


def self_times(step: Callable[[], Any], runs: int = 3) -> dict[str, float]:
    """Profile ``runs`` calls of ``step()`` (after one untimed call) on the CPU ->
    {op name: self seconds per call}.

    Self times: an op's own time without the ops it calls, so nothing is counted twice
    (``aten::linear`` counts as its ``aten::addmm``). The profiler adds a little time to
    every op; compare breakdowns with each other, not with unprofiled timings.
    """
    if runs < 1:
        raise ValueError(f'runs must be >= 1, got {runs}')
    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(runs):
            step()
    return {event.key: event.self_cpu_time_total / 1e6 / runs for event in prof.key_averages()}


def by_kind(op_seconds: dict[str, float]) -> dict[str, float]:
    """{op name: seconds} -> {kind: seconds} for every kind in ``KINDS``, plus ``'total'``."""
    seconds = dict.fromkeys(KINDS, 0.0)
    for op, value in op_seconds.items():
        seconds[kind_of(op)] += value
    seconds['total'] = sum(seconds[k] for k in KINDS)
    return seconds


def time_by_kind(step: Callable[[], Any], runs: int = 3) -> dict[str, float]:
    """{kind: seconds per call} of ``step()`` (see :func:`self_times`)."""
    return by_kind(self_times(step, runs))


def floor(seconds: dict[str, float]) -> float:
    """The part of a breakdown that does the maths: GEMMs + attention kernels + convolutions."""
    return seconds['GEMM'] + seconds['attention'] + seconds['convolution']


def format_breakdown(breakdowns: dict[str, dict[str, float]]) -> str:
    """{name: time_by_kind(...)} -> markdown table in ms per iteration, with the floor."""
    header = ['model', 'profiled ms/iter', *KINDS, 'floor (GEMM + attention + conv)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, s in breakdowns.items():
        cells = [f'{s["total"] * 1e3:.1f}'] + [f'{s[k] * 1e3:.1f}' for k in KINDS]
        cells.append(f'{floor(s) * 1e3:.1f}')
        lines.append(f'| {name} | ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
