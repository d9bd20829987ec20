"""Throughput and peak memory of models, measured side by side.

Protocol (the paper's by default): a batch of random images, warm-up iterations, then timed
iterations in interleaved rounds (every round runs each model once, in a rotating order,
so that machine noise hits all models alike); throughput = batch / median iteration time.
Peak memory is measured per model in a fresh subprocess: on CUDA the allocator's
``max_memory_allocated`` (weights, input, activations); on the CPU the growth of the
process's peak resident memory over its resident memory just before the model was built.
"""
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, ContextManager, Iterable, Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn
from tqdm import tqdm

from .model_specs import build_model, count_parameters, preload
from .time_breakdown import time_by_kind

AMP_DTYPES = dict(fp16=torch.float16, bf16=torch.bfloat16)


@dataclass
class Settings:
    """What every measured iteration runs: ``batch`` images of ``shape`` (H, W)."""

    batch: int = 64
    shape: tuple = (224, 224)
    device: str = 'cpu'
    amp: str = None  # None | 'fp16' | 'bf16'
    channels_last: bool = False
    compile: bool = False
    train_step: bool = False
    cfg_options: dict = None

    def __post_init__(self) -> None:
        self.shape = tuple(self.shape)


@dataclass
class Result:
    name: str
    kind: str
    params: int
    times: list  # seconds per iteration, one per timed round
    peak_memory: int = None  # bytes
    breakdown: dict = None  # time_breakdown.time_by_kind(...) when asked for
    mode: str = 'inference'  # one of MODES
    row: str = None  # the name without the mode (one table row per model and precision)

    def __post_init__(self) -> None:
        if self.row is None:
            self.row = self.name

    @property
    def ms_per_iter(self) -> float:
        return 1e3 * statistics.median(self.times)

    def imgs_per_s(self, batch: int) -> float:
        return batch / statistics.median(self.times)


def output_tensors(out: Any) -> Iterator[torch.Tensor]:
    """All tensors in a (nested) model output."""
    if isinstance(out, torch.Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for item in out:
            yield from output_tensors(item)
    elif isinstance(out, dict):
        for item in out.values():
            yield from output_tensors(item)


def sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize()


MODES = ('inference', 'training')


def is_dropout(module: nn.Module) -> bool:
    """Dropout or stochastic depth (``nn.Dropout*``, mmcv's / timm's ``DropPath``)."""
    return (isinstance(module, nn.modules.dropout._DropoutNd)
            or type(module).__name__ == 'DropPath')


def set_mode(module: nn.Module, training: bool) -> nn.Module:
    """``module.train(training)``; in training mode every dropout and drop-path layer stays
    in eval mode (identity), so that every step of every model runs the same, deterministic
    work: train-mode BatchNorm (batch statistics) and autograd, no random masks."""
    module.train(training)
    if training:
        for m in module.modules():
            if is_dropout(m):
                m.eval()
    return module


def output_loss(out: Any) -> Union[torch.Tensor, int]:
    """Scalar loss of a (nested) output: the sum of the fp32 means of its float tensors."""
    return sum(t.float().mean() for t in output_tensors(out) if t.is_floating_point())


def make_forward_step(forward: Callable[[], Any], backward: bool = False,
                      tensors: Iterable[torch.Tensor] = (),
                      autocast: Callable[[], ContextManager] = contextlib.nullcontext
                      ) -> Callable[[], None]:
    """``forward()`` (no arguments: it closes over its module and input) -> ``step()``, one
    measured iteration: without ``backward``, ``forward()`` under ``torch.no_grad``; with it,
    the gradients of ``tensors`` (parameters, inputs) are set to None, then ``forward()``
    and ``backward()`` of :func:`output_loss` (no optimizer step). The gradients of the
    last step are left in place."""
    tensors = [t for t in tensors if t.requires_grad]

    if backward:
        def step() -> None:
            for t in tensors:
                t.grad = None
            with autocast():
                out = forward()
            output_loss(out).backward()
    else:
        def step() -> None:
            with torch.no_grad(), autocast():
                forward()
    return step


def make_step(module: nn.Module, settings: Settings,
              backward: Optional[bool] = None) -> Callable[[], None]:
    """Move ``module`` to the device and return ``step()``, one measured iteration on a
    random batch: inference under ``torch.no_grad`` or, with ``backward`` (default
    ``settings.train_step``), forward + backward of the sum of the output means in train
    mode with dropout and drop-path off (:func:`set_mode`), the parameters' gradients set
    to None before each step (:func:`make_forward_step`)."""
    backward = settings.train_step if backward is None else backward
    device = torch.device(settings.device)
    fmt = torch.channels_last if settings.channels_last else torch.contiguous_format
    module = set_mode(module.to(device, memory_format=fmt), backward)
    images = torch.randn(settings.batch, 3, *settings.shape, device=device)
    images = images.contiguous(memory_format=fmt)
    runner = torch.compile(module) if settings.compile else module
    if settings.amp:
        autocast = lambda: torch.autocast(device.type, dtype=AMP_DTYPES[settings.amp])  # noqa: E731
    else:
        autocast = contextlib.nullcontext
    return make_forward_step(lambda: runner(images), backward, module.parameters(), autocast)


def time_interleaved(steps: dict[str, Callable[[], Any]], runs: int, warmup: int, device: str,
                     progress: bool = True) -> dict[str, list[float]]:
    """{name: step} -> {name: [seconds per iteration] * runs}, timed in interleaved rounds
    after ``warmup`` iterations of each step."""
    names = list(steps)
    times = {n: [] for n in names}
    with tqdm(total=len(names) * (warmup + runs), desc='benchmark', disable=not progress,
              file=sys.stderr) as bar:
        for name in names:
            for _ in range(warmup):
                steps[name]()
                bar.update()
            sync(device)
        for r in range(runs):
            for name in names[r % len(names):] + names[:r % len(names)]:
                sync(device)
                start = time.perf_counter()
                steps[name]()
                sync(device)
                times[name].append(time.perf_counter() - start)
                bar.update()
    return times


def _rss_bytes(field: str) -> Optional[int]:
    """``VmRSS`` / ``VmHWM`` of this process from /proc, in bytes (None off Linux)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS mark to the current RSS; False where not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def measure_peak_memory_here(spec: str, settings: Settings) -> int:
    """Peak memory (bytes) of ``spec`` in *this* process, meant to be a fresh one (see
    :func:`measure_peak_memory`): libraries imported, then a baseline, then the model is
    built and run once (compilation, lazy set-up), the peak mark is reset where possible,
    and one more step is measured. CUDA: the allocator's peak over the baseline; CPU: the
    peak resident memory over the resident memory at the baseline."""
    preload(spec)
    if settings.device.startswith('cuda'):
        before = torch.cuda.memory_allocated()
        read_peak, reset_peak = torch.cuda.max_memory_allocated, torch.cuda.reset_peak_memory_stats
    elif _reset_peak_rss():
        before = _rss_bytes('VmRSS')
        read_peak, reset_peak = (lambda: _rss_bytes('VmHWM')), _reset_peak_rss
    else:  # ru_maxrss is a lifetime high-water mark (kB on Linux) that cannot be reset
        read_peak = lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # noqa: E731
        before, reset_peak = read_peak(), (lambda: None)
    step = make_step(build_model(spec, settings.cfg_options).module, settings)
    step()
    sync(settings.device)
    reset_peak()
    step()
    sync(settings.device)
    return read_peak() - before


def measure_peak_memory(spec: str, settings: Settings, timeout: Optional[float] = None) -> int:
    """Peak memory (bytes) of one model, measured in a fresh Python process with this
    process's import path (so that it imports the same litv2_mm, installed or not)."""
    payload = json.dumps(dict(spec=spec, settings=asdict(settings)))
    code = ('import sys; from litv2_mm.analysis.benchmark import _memory_child; '
            '_memory_child(sys.argv[1])')
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    proc = subprocess.run([sys.executable, '-c', code, payload], capture_output=True,
                          text=True, env=env, timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f'memory measurement of {spec!r} failed:\n{proc.stderr[-3000:]}')
    return json.loads(proc.stdout.strip().splitlines()[-1])['peak_memory']


def _memory_child(payload: str) -> None:
    args = json.loads(payload)
    settings = Settings(**args['settings'])
    print(json.dumps(dict(peak_memory=measure_peak_memory_here(args['spec'], settings))))


def run_benchmark(specs: Sequence[str], settings: Settings, runs: int = 30, warmup: int = 50,
                  memory: bool = True, progress: bool = True, breakdown_runs: int = 0,
                  precisions: Optional[Sequence[Optional[str]]] = None,
                  modes: Optional[Sequence[str]] = None) -> list[Result]:
    """Build every spec, time them interleaved, measure peak memory -> list of Result.

    ``precisions`` (e.g. ``[None, 'bf16']``; default ``[settings.amp]``): every model is
    timed in each (None = fp32, else the autocast dtype), in the same interleaved rounds;
    with more than one, each result's name ends with its precision. ``modes`` (a subset of
    :data:`MODES`; default the one ``settings.train_step`` names): likewise, every model in
    each of inference (no grad) and training (forward + backward, :func:`make_step`), a
    copy of the model per mode; with more than one, each name ends with its mode.
    ``breakdown_runs`` > 0 (CPU): then profile each model alone over that many iterations
    (``Result.breakdown``: time by kind of op)."""
    precisions = list(precisions or [settings.amp])
    modes = list(modes or [MODES[int(settings.train_step)]])
    bad = [m for m in modes if m not in MODES]
    if bad or len(set(modes)) != len(modes):
        raise ValueError(f'modes must be distinct values of {MODES}, got {modes}')
    runs_of = []  # (spec, module, settings of the run, result name, mode, row)
    names = None
    for mode in modes:
        # One copy per mode: a module in train mode and one in eval mode, timed in turns.
        built = [build_model(s, settings.cfg_options) for s in specs]
        names = [b.name for b in built]
        if len(set(names)) != len(names):
            raise ValueError(f'the same model twice in {names}')
        for spec, b in zip(specs, built):
            for amp in precisions:
                row = b.name if len(precisions) == 1 else f'{b.name} {amp or "fp32"}'
                name = row if len(modes) == 1 else f'{row} {mode}'
                st = replace(settings, amp=amp, train_step=mode == 'training')
                runs_of.append((spec, b, st, name, mode, row))
    order = {row: i for i, row in enumerate(dict.fromkeys(r[5] for r in runs_of))}
    runs_of.sort(key=lambda r: order[r[5]])  # the modes of a model next to each other
    steps = {name: make_step(b.module, st) for _, b, st, name, _, _ in runs_of}
    times = time_interleaved(steps, runs, warmup, settings.device, progress)
    results = [Result(name, b.kind, count_parameters(b.module)[0], times[name], mode=mode,
                      row=row)
               for _, b, _, name, mode, row in runs_of]
    if breakdown_runs:
        for res in results:
            res.breakdown = time_by_kind(steps[res.name], runs=breakdown_runs)
    del steps, built
    if memory:
        for (spec, _, st, _, _, _), res in zip(runs_of, results):
            res.peak_memory = measure_peak_memory(spec, st)
    return results


def machine_info(device: str) -> str:
    """One line naming the machine: CPU model, cores, threads, GPU, torch version, date."""
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    parts = [f'CPU {cpu}', f'{os.cpu_count()} cores', f'{torch.get_num_threads()} torch threads']
    if device.startswith('cuda'):
        parts.append(f'GPU {torch.cuda.get_device_name(torch.device(device))}')
    parts += [f'torch {torch.__version__}', time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())]
    return ', '.join(parts)


def _memory(result: Result) -> str:
    return f'{result.peak_memory / 2 ** 20:.0f} MiB' if result.peak_memory is not None else '-'


def format_table(results: Sequence[Result], settings: Settings) -> str:
    """Markdown table: model, kind, params, imgs/s, ms/iter, peak memory, speed vs the first.

    With results in several modes (:func:`run_benchmark`'s ``modes``): one row per model
    (and precision), and ms/iter, imgs/s, peak memory and speed vs the first model per
    mode, side by side, then the time of a training step over an inference one."""
    mem_name = 'peak mem (CUDA)' if settings.device.startswith('cuda') else 'peak RSS growth'
    modes = list(dict.fromkeys(r.mode for r in results))
    if len(modes) > 1:
        return _format_modes_table(results, settings, modes, mem_name)
    lines = [f'| model | kind | params | imgs/s | ms/iter | {mem_name} | speed vs first |',
             '|---|---|---|---|---|---|---|']
    base = results[0].imgs_per_s(settings.batch)
    for r in results:
        speed = r.imgs_per_s(settings.batch)
        lines.append(f'| {r.name} | {r.kind} | {r.params / 1e6:.2f}M | {speed:.1f} | '
                     f'{r.ms_per_iter:.1f} | {_memory(r)} | {speed / base:.2f}x |')
    return '\n'.join(lines)


def _format_modes_table(results: Sequence[Result], settings: Settings, modes: Sequence[str],
                        mem_name: str) -> str:
    by_row = {}
    for r in results:
        by_row.setdefault(r.row, {})[r.mode] = r
    first = next(iter(by_row.values()))
    header = ['model', 'kind', 'params']
    for mode in modes:
        header += [f'{mode} ms/iter', f'{mode} imgs/s', f'{mode} {mem_name}',
                   f'{mode} speed vs first']
    both = 'inference' in modes and 'training' in modes
    if both:
        header.append('training / inference time')
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for row, of_mode in by_row.items():
        any_result = next(iter(of_mode.values()))
        cells = [row, any_result.kind, f'{any_result.params / 1e6:.2f}M']
        for mode in modes:
            r = of_mode.get(mode)
            if r is None:
                cells += ['-'] * 4
                continue
            speed = r.imgs_per_s(settings.batch)
            base = first[mode].imgs_per_s(settings.batch) if mode in first else None
            cells += [f'{r.ms_per_iter:.1f}', f'{speed:.1f}', _memory(r),
                      f'{speed / base:.2f}x' if base else '-']
        if both:
            if 'inference' in of_mode and 'training' in of_mode:
                ratio = of_mode['training'].ms_per_iter / of_mode['inference'].ms_per_iter
                cells.append(f'{ratio:.2f}x')
            else:
                cells.append('-')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)
