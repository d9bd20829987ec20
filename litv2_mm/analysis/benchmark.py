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

import torch
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

    def __post_init__(self):
        self.shape = tuple(self.shape)


@dataclass
class Result:
    name: str
    kind: str
    params: int
    times: list  # seconds per iteration, one per timed round
    peak_memory: int = None  # bytes
    breakdown: dict = None  # time_breakdown.time_by_kind(...) when asked for

    @property
    def ms_per_iter(self):
        return 1e3 * statistics.median(self.times)

    def imgs_per_s(self, batch):
        return batch / statistics.median(self.times)


def output_tensors(out):
    """All tensors in a (nested) model output."""
    if isinstance(out, torch.Tensor):
        yield out
    elif isinstance(out, (list, tuple)):
        for item in out:
            yield from output_tensors(item)
    elif isinstance(out, dict):
        for item in out.values():
            yield from output_tensors(item)


def sync(device):
    if device.startswith('cuda'):
        torch.cuda.synchronize()


def make_step(module, settings):
    """Move ``module`` to the device and return ``step()``, one measured iteration:
    inference under ``torch.no_grad`` or, with ``train_step``, forward + backward of
    ``sum(mean(output))`` over all outputs (gradients dropped after each step)."""
    device = torch.device(settings.device)
    fmt = torch.channels_last if settings.channels_last else torch.contiguous_format
    module = module.to(device, memory_format=fmt).train(settings.train_step)
    images = torch.randn(settings.batch, 3, *settings.shape, device=device)
    images = images.contiguous(memory_format=fmt)
    runner = torch.compile(module) if settings.compile else module
    if settings.amp:
        autocast = lambda: torch.autocast(device.type, dtype=AMP_DTYPES[settings.amp])  # noqa: E731
    else:
        autocast = contextlib.nullcontext
    params = [p for p in module.parameters() if p.requires_grad]

    if settings.train_step:
        def step():
            with autocast():
                out = runner(images)
            loss = sum(t.float().mean() for t in output_tensors(out) if t.is_floating_point())
            loss.backward()
            for p in params:
                p.grad = None
    else:
        def step():
            with torch.no_grad(), autocast():
                runner(images)
    return step


def time_interleaved(steps, runs, warmup, device, progress=True):
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


def _rss_bytes(field):
    """``VmRSS`` / ``VmHWM`` of this process from /proc, in bytes (None off Linux)."""
    try:
        with open('/proc/self/status') as f:
            for line in f:
                if line.startswith(field + ':'):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _reset_peak_rss():
    """Reset the kernel's peak-RSS mark to the current RSS; False where not possible."""
    try:
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


def measure_peak_memory_here(spec, settings):
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


def measure_peak_memory(spec, settings, timeout=None):
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


def _memory_child(payload):
    args = json.loads(payload)
    settings = Settings(**args['settings'])
    print(json.dumps(dict(peak_memory=measure_peak_memory_here(args['spec'], settings))))


def run_benchmark(specs, settings, runs=30, warmup=50, memory=True, progress=True,
                  breakdown_runs=0, precisions=None):
    """Build every spec, time them interleaved, measure peak memory -> list of Result.

    ``precisions`` (e.g. ``[None, 'bf16']``; default ``[settings.amp]``): every model is
    timed in each (None = fp32, else the autocast dtype), in the same interleaved rounds;
    with more than one, each result's name ends with its precision. ``breakdown_runs`` > 0
    (CPU): then profile each model alone over that many iterations (``Result.breakdown``:
    time by kind of op)."""
    built = [build_model(s, settings.cfg_options) for s in specs]
    names = [b.name for b in built]
    if len(set(names)) != len(names):
        raise ValueError(f'the same model twice in {names}')
    precisions = list(precisions or [settings.amp])
    runs_of = []  # (spec, built model, settings of the run, result name)
    for spec, b in zip(specs, built):
        for amp in precisions:
            name = b.name if len(precisions) == 1 else f'{b.name} {amp or "fp32"}'
            runs_of.append((spec, b, replace(settings, amp=amp), name))
    steps = {name: make_step(b.module, st) for _, b, st, name in runs_of}
    times = time_interleaved(steps, runs, warmup, settings.device, progress)
    results = [Result(name, b.kind, count_parameters(b.module)[0], times[name])
               for _, b, _, name in runs_of]
    if breakdown_runs:
        for res in results:
            res.breakdown = time_by_kind(steps[res.name], runs=breakdown_runs)
    del steps, built
    if memory:
        for (spec, _, st, _), res in zip(runs_of, results):
            res.peak_memory = measure_peak_memory(spec, st)
    return results


def machine_info(device):
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


def format_table(results, settings):
    """Markdown table: model, kind, params, imgs/s, ms/iter, peak memory, speed vs the first."""
    mem_name = 'peak mem (CUDA)' if settings.device.startswith('cuda') else 'peak RSS growth'
    lines = [f'| model | kind | params | imgs/s | ms/iter | {mem_name} | speed vs first |',
             '|---|---|---|---|---|---|---|']
    base = results[0].imgs_per_s(settings.batch)
    for r in results:
        mem = f'{r.peak_memory / 2 ** 20:.0f} MiB' if r.peak_memory is not None else '-'
        speed = r.imgs_per_s(settings.batch)
        lines.append(f'| {r.name} | {r.kind} | {r.params / 1e6:.2f}M | {speed:.1f} | '
                     f'{r.ms_per_iter:.1f} | {mem} | {speed / base:.2f}x |')
    return '\n'.join(lines)
