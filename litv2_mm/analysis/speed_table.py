"""The project's speed results as one table: a CSV in the style of timm's benchmark results
(one row per model, input, batch, precision, runtime and mode, with the machine, the library
versions and the date of the measurement), and a bar chart of it.

Columns (:class:`SpeedRow`, in this order): ``model``, ``task``, ``input_size`` (``HxW``),
``batch``, ``precision`` (fp32 | bf16 | int8), ``runtime`` (pytorch | onnxruntime |
openvino), ``mode`` (eager | compiled | graph), ``img_per_s`` (batch / median iteration
time), ``latency_ms`` (median time of one iteration of ``batch`` images), ``peak_memory_mb``
(MiB, 2 ** 20 bytes, as tools/analysis/benchmark.py prints it; empty when not measured),
``cpu``, ``versions`` (the libraries that ran the row), ``date`` (UTC, to the minute) and
``note``.

Backbone rows (:func:`backbone_rows`) come from :func:`litv2_mm.analysis.benchmark.run_benchmark`
(random input, warm-up, interleaved timed iterations, peak memory in a fresh subprocess: on
the CPU the growth of the peak resident memory). Rows of the whole detectors and segmentors
come from ``litv2_mm.analysis.deployed_speed.whole_model_rows``.
"""
import csv
import math
import os
import os.path as osp
import platform
import time
from dataclasses import astuple, dataclass, fields
from importlib.metadata import version
from typing import Callable, Optional, Sequence

from ..models.cpu_inference import cpu_bf16
from .benchmark import Result, Settings, run_benchmark

TASKS = ('backbone', 'detection', 'instance-seg', 'segmentation')
PRECISIONS = ('fp32', 'bf16', 'int8')
RUNTIMES = ('pytorch', 'onnxruntime', 'openvino')
MODES = ('eager', 'compiled', 'graph')


@dataclass
class SpeedRow:
    """One measurement: ``batch`` images of ``input_size`` (``'HxW'``) through ``model``."""

    model: str  # e.g. 'litv2_s', 'retinanet_litv2_s'
    task: str  # one of TASKS
    input_size: str  # 'HxW', e.g. '224x224'
    batch: int
    precision: str  # one of PRECISIONS
    runtime: str  # one of RUNTIMES
    mode: str  # one of MODES
    img_per_s: float  # batch / latency
    latency_ms: float  # median time of one iteration (``batch`` images)
    peak_memory_mb: Optional[float]  # MiB; None when not measured
    cpu: str
    versions: str  # e.g. 'torch 2.13.0; onnxruntime 1.32.0'
    date: str  # UTC, ISO, to the minute: '2026-12-01T13:05Z'
    note: str = ''


FIELDS = [f.name for f in fields(SpeedRow)]
_INTS = {'batch'}
_FLOATS = {'img_per_s', 'latency_ms', 'peak_memory_mb'}


def format_float(value: Optional[float]) -> str:
    """Four significant digits, at least two decimals, never an exponent ('' for None):
    2000.00, 123.46, 5.678, 0.01230."""
    if value is None:
        return ''
    if value == 0 or not math.isfinite(value):
        return f'{value:.2f}'
    decimals = max(2, 3 - math.floor(math.log10(abs(value))))
    return f'{value:.{decimals}f}'


def write_csv(rows: Sequence[SpeedRow], path: str) -> None:
    """Write ``rows`` to ``path`` (folders made as needed): a header of :data:`FIELDS`, then
    one line per row, floats by :func:`format_float`, an unmeasured memory empty."""
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w', newline='') as f:
        writer = csv.writer(f)
        writer.writerow(FIELDS)
        for row in rows:
            writer.writerow([format_float(v) if name in _FLOATS else v
                             for name, v in zip(FIELDS, astuple(row))])


def read_header(path: str) -> list[str]:
    """The column names of a CSV file (an empty list for an empty file)."""
    with open(path, newline='') as f:
        return next(csv.reader(f), [])


def read_csv(path: str) -> list[SpeedRow]:
    """Rows of a CSV that :func:`write_csv` wrote, with their types (int batch, float
    speeds, None for an empty memory). Raises ValueError when its columns are not
    :data:`FIELDS`."""
    with open(path, newline='') as f:
        reader = csv.DictReader(f)
        if reader.fieldnames != FIELDS:
            raise ValueError(f'{path}: columns {reader.fieldnames} are not those of a speed '
                             f'table ({FIELDS})')
        return [SpeedRow(**{k: _parse(k, v) for k, v in line.items()}) for line in reader]


def _parse(name: str, text: str) -> object:
    if name in _INTS:
        return int(text)
    if name in _FLOATS:
        return float(text) if text != '' else None
    return text


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo), else ``platform.processor()`` or the machine."""
    try:
        with open('/proc/cpuinfo') as f:
            return next(line.split(':', 1)[1].strip() for line in f
                        if line.startswith('model name'))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def versions(*packages: str) -> str:
    """'torch 2.13.0; onnxruntime 1.32.0' for installed distributions (importlib.metadata;
    one that is not installed raises PackageNotFoundError: a row names what ran it)."""
    return '; '.join(f'{p} {version(p)}' for p in packages)


def utc_now() -> str:
    """The current time in UTC, ISO 8601 to the minute: '2026-12-01T13:05Z'."""
    return time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())


def default_batch(shape: tuple[int, int]) -> int:
    """timm-style batch per input (H, W): 16 for classification sizes (up to 384 x 384),
    1 for the larger inputs of detection and segmentation (e.g. 800 x 1344)."""
    return 16 if shape[0] * shape[1] <= 384 * 384 else 1


def backbone_rows(archs: Sequence[str], shapes: Sequence[tuple[int, int]],
                  precisions: Sequence[str] = ('fp32', 'bf16'), compiled: bool = True,
                  runs: int = 30, warmup: int = 5,
                  batch_for_shape: Callable[[tuple[int, int]], int] = default_batch,
                  memory: bool = True,
                  on_row: Optional[Callable[[SpeedRow], None]] = None) -> list[SpeedRow]:
    """Measure LITv2 backbones (``archs``: 'litv2_s' | 'litv2_m' | 'litv2_b', random init,
    the four stage outputs) on the CPU, one :class:`SpeedRow` per arch, input (H, W) of
    ``shapes``, precision and mode, ``batch_for_shape(shape)`` images per iteration.

    Per arch and input, one :func:`run_benchmark` of the eager model (PyTorch, no grad) in
    each of ``precisions`` ('fp32', 'bf16' = autocast to bf16 with fp32 weights), timed in
    the same interleaved rounds; with ``compiled``, a second one of ``torch.compile(model)``
    (inductor, its default mode; :func:`litv2_mm.analysis.benchmark.make_step`) in the
    same precisions, mode 'compiled'. A compiled step compiles on its first call, so a
    compiled run has at least one warm-up iteration: its warm-up includes the compilation,
    which is never timed. bf16 rows are only measured where the CPU has native bf16
    (:func:`cpu_bf16` == 'native'; elsewhere bf16 is emulated and slower than fp32).
    ``warmup`` untimed then ``runs`` timed iterations per row; latency = median. With
    ``memory``, every row's peak memory is measured in a fresh subprocess (the growth of
    the peak resident memory, one more step after the warm-up one). ``on_row(row)`` is
    called as each row is measured."""
    amps = [None if p == 'fp32' else p for p in precisions
            if p == 'fp32' or (p == 'bf16' and cpu_bf16() == 'native')]
    cpu, libs = cpu_model(), versions('torch')
    rows = []
    for arch in archs if amps else ():
        for shape in shapes:
            batch = batch_for_shape(shape)
            for compile_ in (False, True) if compiled else (False,):
                n_warmup = max(warmup, 1) if compile_ else warmup
                settings = Settings(batch=batch, shape=shape, compile=compile_)
                results = run_benchmark([arch], settings, runs=runs, warmup=n_warmup,
                                        memory=memory, progress=False, precisions=amps)
                date = utc_now()
                note = f'median of {runs} timed iterations; {n_warmup} warm-up'
                if compile_:
                    note += ' (the first one compiles)'
                for amp, result in zip(amps, results):
                    row = _backbone_row(arch, shape, batch, amp or 'fp32', compile_, result,
                                        cpu, libs, date, note)
                    rows.append(row)
                    if on_row is not None:
                        on_row(row)
    return rows


def _backbone_row(arch: str, shape: tuple[int, int], batch: int, precision: str,
                  compiled: bool, result: Result, cpu: str, libs: str, date: str,
                  note: str) -> SpeedRow:
    memory = result.peak_memory / 2 ** 20 if result.peak_memory is not None else None
    return SpeedRow(model=arch, task='backbone', input_size=f'{shape[0]}x{shape[1]}',
                    batch=batch, precision=precision, runtime='pytorch',
                    mode='compiled' if compiled else 'eager',
                    img_per_s=result.imgs_per_s(batch), latency_ms=result.ms_per_iter,
                    peak_memory_mb=memory, cpu=cpu, versions=libs, date=date, note=note)


def format_markdown(rows: Sequence[SpeedRow]) -> str:
    """The rows as a markdown table, every column but ``cpu`` and ``date``, which a line
    above the table gives (each distinct value once)."""
    shown = [name for name in FIELDS if name not in ('cpu', 'date')]
    cpus = ', '.join(dict.fromkeys(r.cpu for r in rows))
    dates = ', '.join(dict.fromkeys(r.date for r in rows))
    lines = [f'CPU: {cpus or "-"}; measured (UTC): {dates or "-"}', '',
             '| ' + ' | '.join(shown) + ' |', '|' + '---|' * len(shown)]
    for row in rows:
        cells = [format_float(getattr(row, name)) if name in _FLOATS else str(getattr(row, name))
                 for name in shown]
        lines.append('| ' + ' | '.join(cell or '-' for cell in cells) + ' |')
    return '\n'.join(lines)


def variant(row: SpeedRow) -> str:
    """What a bar of :func:`plot` stands for: 'pytorch eager fp32'."""
    return f'{row.runtime} {row.mode} {row.precision}'


def plot(rows: Sequence[SpeedRow], path: str) -> None:
    """Horizontal bars of images/s, saved as a PNG at ``path`` (folders made as needed):
    one panel per task and input size, one group of bars per model and batch, one bar per
    runtime, mode and precision (the same colour in every panel), its value written at its
    end; the title names the CPU(s) and the dates of the measurements."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    panels = {}  # (task, input size) -> {(model, batch): {variant: img/s}}
    for row in rows:
        groups = panels.setdefault((row.task, row.input_size), {})
        groups.setdefault((row.model, row.batch), {})[variant(row)] = row.img_per_s
    variants = list(dict.fromkeys(variant(r) for r in rows))
    colours = dict(zip(variants, plt.get_cmap('tab10' if len(variants) <= 10 else 'tab20')(
        range(len(variants)))))
    heights = [sum(len(v) for v in groups.values()) + len(groups) for groups in panels.values()]
    fig, axes = plt.subplots(max(len(panels), 1), 1, squeeze=False,
                             figsize=(9, 1.5 + 0.3 * sum(heights) + 0.6 * len(panels)),
                             height_ratios=[max(h, 1) for h in heights] or None)
    for ax, ((task, size), groups) in zip(axes[:, 0], panels.items()):
        y, ticks, labels = 0, [], []
        for (model, batch), speeds in groups.items():
            start = y
            for name, speed in speeds.items():
                ax.barh(y, speed, color=colours[name], label=name)
                ax.text(speed, y, f' {format_float(speed)}', va='center', fontsize=8)
                y += 1
            ticks.append((start + y - 1) / 2)
            labels.append(f'{model}\nbatch {batch}')
            y += 1  # a gap between models
        ax.set_yticks(ticks, labels)
        ax.invert_yaxis()
        ax.set_title(f'{task}, {size} (H x W)', fontsize=10)
        ax.set_xlabel('images / s')
        ax.margins(x=0.15)
    handles = [plt.Rectangle((0, 0), 1, 1, color=colours[name]) for name in variants]
    fig.legend(handles, variants, loc='upper right', fontsize=8)
    cpus = ', '.join(dict.fromkeys(r.cpu for r in rows))
    days = sorted({r.date[:10] for r in rows})
    when = days[0] if len(days) == 1 else f'{days[0]} to {days[-1]}' if days else ''
    fig.suptitle(f'Throughput on {cpus or "-"}, {when}', x=0.02, ha='left', fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    if osp.dirname(path):
        os.makedirs(osp.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
