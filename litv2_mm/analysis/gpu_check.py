"""The GPU acceptance kit (issue 31): what the CPU tests cannot check, and LITv2 measured at the
paper's protocol, in one run of ``tools/gpu_check.sh`` (docs/speed.md, "GPU acceptance kit").

:func:`run_checks` runs three sections and writes ``report.json`` and ``report.md`` to its
output folder after every step, so that a run stopped by its time limit leaves what it
measured; one progress line per step goes to stdout.

* accuracy: LITv2-S/M/B with trained-like weights (:func:`trained_like`) at 224 x 224 and at a
  detection size, outputs and parameter gradients: on CUDA against the CPU in fp32 (max-abs
  relative 1e-4, TF32 off), and under autocast fp16 / bf16 against fp32 on the device (the
  limits of tests/models/test_mixed_precision.py: outputs 0.5 % / 2 %, gradients as there);
* training: a small LITv2 classifier trained by mmengine's Runner with the hooks every LITv2
  config declares (configs/_base_/litv2_runtime.py), 2 dataloader workers, each run a process
  in a session of its own: SIGTERM sent by this process to the run's process group in
  iteration 3 stops it with status 75 and a checkpoint; ``--resume`` of it then loads the same
  batches, leaves every random generator as the uninterrupted run does after every iteration,
  and ends with its weights (bitwise on a CPU); two runs with ``randomness.deterministic=True``
  run (or fail before training, named) and end bitwise equal;
* throughput and memory: LITv2-S/M/B, the authors' formulation of LITv2-S
  (litv2_mm/analysis/reference.py) and Swin-T, inference img/s and memory, training-step img/s
  and memory, in fp32 (TF32 off), TF32, fp16 and bf16 autocast, eager and ``torch.compile``;
  then the issue's goals (LITv2-S >= 6,000 img/s in bf16 at batch 64, 224 x 224, and >= 1.5x
  Swin-T in the same run).

Profiles (:data:`PROFILES`): ``cuda``, the paper's sizes, about 5 minutes on one H100 (compiled
rows start only while the time budget allows one); ``cpu``, tiny sizes and few iterations, a
smoke run of the same code on a CPU: what needs CUDA is reported ``skipped: needs CUDA``, and
its figures are no speed claim. A check is ``dict(section, name, status, reason, values,
seconds)``, status ``passed``, ``failed`` or ``skipped``.
"""
import contextlib
import copy
import gc
import hashlib
import json
import math
import os
import os.path as osp
import pickle
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import types
from dataclasses import asdict, dataclass
from typing import (TYPE_CHECKING, Any, Callable, ContextManager, Iterable, Iterator, Optional,
                    Sequence, Union)

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.dataset import BaseDataset
from mmengine.hooks import Hook
from mmengine.model import BaseModel
from mmengine.registry import DATASETS, HOOKS, MODELS, TRANSFORMS

from ..engine import PREEMPTED_EXIT_STATUS, PreemptionHook
from ..engine.random_states import get_rng_states
from ..models import LITv2
from ..reference import ReferenceDeformConv, ReferenceLITv2, reference_litv2
from .benchmark import AMP_DTYPES, Settings, machine_info, make_step, sync, time_interleaved
from .precision import relative_difference

if TYPE_CHECKING:
    from mmengine.config import Config
    from mmengine.runner import Runner

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
NEEDS_CUDA = 'skipped: needs CUDA'
PRECISIONS = ('fp32', 'tf32', 'fp16', 'bf16')
DEVICE_TOL = 1e-4  # CUDA against CPU, fp32: max |a - b| / max |b|
FWD_TOL = dict(fp16=0.005, bf16=0.02)  # ||y - y_fp32|| / ||y_fp32|| of every stage output
# gradients in eval mode, (all parameters together, each parameter tensor): the limits of
# tests/models/test_mixed_precision.py (GRAD_TOL, eval)
GRAD_TOL = dict(fp16=(0.01, 0.05), bf16=(0.05, 0.25))
FP16_LOSS_SCALE = 2. ** 16  # the initial scale of --amp's dynamic loss scaler
RESUME_TOL_CUDA = 1e-3  # resumed against uninterrupted weights on CUDA (atomic-add kernels)
GOAL_IMG_S, GOAL_VS_SWIN = 6000., 1.5
TRAIN_ITERS, STOP_AT = 5, 3
NUM_CLASSES = 4
TINY_ARCH = dict(embed_dims=16, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))


@dataclass(frozen=True)
class Profile:
    """What a run checks and measures. Inputs are (batch, H, W) / (H, W) in pixels; times in
    seconds."""

    device: str
    archs: tuple  # ((name, LITv2 arch), ...): checked and timed; the first also as reference
    swin: tuple  # (name, (embed_dims, depths, num_heads)) of the Swin Transformer timed beside
    accuracy_inputs: tuple  # ((batch, H, W), ...): 224 x 224 and a detection size
    batch: int  # throughput: images per iteration
    shape: tuple  # throughput: (H, W)
    warmup: int  # inference warm-up iterations per row
    runs: int  # timed inference iterations per row
    train_warmup: int
    train_runs: int
    compile_backend: str  # torch.compile's backend
    compiled: tuple  # ((model, precision), ...) compiled, in this order, while time is left
    train_arch: object  # the backbone arch of the training checks' classifier
    train_shape: tuple  # its images (H, W)
    train_batch: int
    budget_s: float = None  # wall time of the whole run; None: no limit
    first_compile_s: float = 120.  # what a first compiled row is assumed to take


PROFILES = dict(
    cuda=Profile(device='cuda',
                 archs=(('litv2_s', 'small'), ('litv2_m', 'medium'), ('litv2_b', 'base')),
                 swin=('swin_t', (96, (2, 2, 6, 2), (3, 6, 12, 24))),
                 accuracy_inputs=((2, 224, 224), (1, 800, 1344)), batch=64,
                 shape=(224, 224), warmup=10, runs=20, train_warmup=3, train_runs=6,
                 compile_backend='inductor',
                 compiled=(('litv2_s', 'bf16'), ('swin_t', 'bf16'), ('litv2_s', 'fp32'),
                           ('litv2_m', 'bf16'), ('litv2_b', 'bf16'), ('litv2_s', 'fp16'),
                           ('litv2_s', 'tf32')),
                 train_arch='small', train_shape=(112, 112), train_batch=8, budget_s=270.),
    cpu=Profile(device='cpu', archs=(('litv2_tiny', TINY_ARCH),),
                swin=('swin_tiny', tuple(TINY_ARCH.values())),  # LITv2-tiny's widths, depths
                accuracy_inputs=((2, 96, 96), (1, 96, 160)), batch=2,
                shape=(64, 64), warmup=2, runs=3, train_warmup=1, train_runs=2,
                compile_backend='eager', compiled=(('litv2_tiny', 'fp32'),),
                train_arch=TINY_ARCH, train_shape=(64, 64), train_batch=4),
)


def cpu_precision_skip(precision: Optional[str]) -> Optional[str]:
    """Why ``precision`` is not run on this CPU, or None: TF32 is a GPU format, fp16 autocast
    has no fast CPU kernels (timing it says nothing of a GPU), bf16 needs oneDNN's bf16
    kernels (AVX512-BF16 or AMX)."""
    from ..models.cpu_inference import cpu_bf16
    if precision == 'tf32':
        return f'{NEEDS_CUDA} (TF32 is a GPU number format)'
    if precision == 'bf16' and cpu_bf16() == 'none':
        return 'skipped: this CPU has no oneDNN bf16 kernels (AVX2 only)'
    return None


@contextlib.contextmanager
def tf32(enabled: bool) -> Iterator[None]:
    """TF32 for CUDA matmuls and cuDNN convolutions on (``True``) or off, restored after
    (torch >= 2.9's ``fp32_precision`` settings, else ``allow_tf32``)."""
    matmul, cudnn = torch.backends.cuda.matmul, torch.backends.cudnn
    if hasattr(matmul, 'fp32_precision'):
        flags = [(matmul, 'fp32_precision', 'tf32' if enabled else 'ieee'),
                 (cudnn.conv, 'fp32_precision', 'tf32' if enabled else 'ieee')]
    else:
        flags = [(matmul, 'allow_tf32', enabled), (cudnn, 'allow_tf32', enabled)]
    before = [getattr(owner, name) for owner, name, _ in flags]
    for owner, name, value in flags:
        setattr(owner, name, value)
    try:
        yield
    finally:
        for (owner, name, _), value in zip(flags, before):
            setattr(owner, name, value)


def autocast(device_type: str, precision: Optional[str]) -> ContextManager:
    """Autocast to ``precision`` ('fp16' / 'bf16'), or nothing for 'fp32' / 'tf32' / None."""
    if precision in AMP_DTYPES:
        return torch.autocast(device_type, dtype=AMP_DTYPES[precision])
    return contextlib.nullcontext()


# ---------------------------------------------------------------- the report


class Report:
    """The checks, throughput rows and goals of one run. Every entry prints a progress line
    and rewrites ``out_dir/report.json`` and ``out_dir/report.md``."""

    def __init__(self, out_dir: str, profile: Profile, meta: dict) -> None:
        self.out_dir, self.profile, self.meta = out_dir, profile, meta
        self.start = time.monotonic()
        self.checks, self.rows, self.goals = [], [], []
        os.makedirs(out_dir, exist_ok=True)

    def elapsed(self) -> float:
        return time.monotonic() - self.start

    def remaining(self) -> float:
        """Seconds left of the profile's budget (inf without one)."""
        budget = self.profile.budget_s
        return math.inf if budget is None else budget - self.elapsed()

    def say(self, text: str) -> None:
        print(f'[gpu_check {self.elapsed():5.0f} s] {text}', flush=True)

    def check(self, section: str, name: str, status: str, reason: str = '',
              seconds: Optional[float] = None, **values: Any) -> dict:
        """Record a check (status 'passed', 'failed' or 'skipped'); returns it."""
        entry = dict(section=section, name=name, status=status, reason=reason,
                     values=values, seconds=None if seconds is None else round(seconds, 2))
        self.checks.append(entry)
        details = format_values(values)
        self.say(f'{section} {name}: {status_text(entry)}{" - " + details if details else ""}')
        self.write()
        return entry

    def row(self, row: dict) -> None:
        self.rows.append(row)
        self.say(f'throughput {row["model"]} {row["precision"]} {row["mode"]}: '
                 + (format_row(row) if row['status'] == 'passed' else status_text(row)))
        self.write()

    def failed(self) -> list[dict]:
        return [c for c in self.checks + self.rows if c['status'] == 'failed']

    def as_dict(self) -> dict:
        return dict(meta=dict(self.meta, seconds=round(self.elapsed(), 1)),
                    profile=asdict(self.profile), checks=self.checks, throughput=self.rows,
                    goals=self.goals, failed=len(self.failed()))

    def write(self) -> None:
        with open(osp.join(self.out_dir, 'report.json'), 'w') as f:
            json.dump(self.as_dict(), f, indent=1)
        with open(osp.join(self.out_dir, 'report.md'), 'w') as f:
            f.write(format_markdown(self.as_dict()))


def status_text(entry: dict) -> str:
    """'passed', or the status with its reason ('skipped: needs CUDA (...)' as it is)."""
    reason = entry['reason']
    if not reason:
        return entry['status']
    return reason if reason.startswith(entry['status']) else f'{entry["status"]}: {reason}'


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f'{value:.3g}'
    if isinstance(value, (list, tuple)):
        return '[' + ', '.join(_fmt(v) for v in value) + ']'
    return str(value)


def format_values(values: dict) -> str:
    return ', '.join(f'{k} {_fmt(v)}' for k, v in values.items())


def _mib(nbytes: Optional[int]) -> str:
    return '-' if nbytes is None else f'{nbytes / 2 ** 20:.0f} MiB'


def _num(value: Optional[float], spec: str = '.1f') -> str:
    return '-' if value is None else format(value, spec)


def format_row(row: dict) -> str:
    text = (f'{_num(row["infer_img_s"])} img/s ({_num(row["infer_ms"], ".2f")} ms), '
            f'test memory {_mib(row["test_memory"])}')
    if row.get('train_img_s') is not None:
        text += (f'; training step {_num(row["train_img_s"])} img/s, '
                 f'memory {_mib(row["train_memory"])}')
    if row.get('compile_s') is not None:
        text += f'; compiled in {row["compile_s"]:.0f} s'
    return text


def format_markdown(report: dict) -> str:
    """The report as markdown: machine, checks, throughput table, goals."""
    meta, profile = report['meta'], report['profile']
    memory = ('CUDA allocator peak: weights, input, activations (training: + gradients)'
              if profile['device'] == 'cuda' else
              f'{NEEDS_CUDA} (a CPU smoke run: its figures are no speed claim)')
    lines = ['# GPU acceptance kit report', '',
             *[f'- {k}: {v}' for k, v in meta.items()], '',
             '## Checks', '', '| section | check | status | details | s |', '|---|---|---|---|---|']
    for c in report['checks']:
        lines.append(f'| {c["section"]} | {c["name"]} | {status_text(c)} | '
                     f'{format_values(c["values"])} | {_num(c["seconds"], ".1f")} |')
    lines += ['', f'## Throughput and memory (batch {profile["batch"]}, '
                  f'{profile["shape"][0]} x {profile["shape"][1]}, {profile["device"]})', '',
              f'Memory: {memory}. fp32 is TF32 off; fp16 / bf16 are autocast (fp32 weights). '
              'A training step is forward + backward (train mode, dropout off, no optimizer '
              f'step). Ratios: inference img/s over {profile["swin"][0]}\'s in the same '
              "precision and mode, and over the authors' formulation's (eager).", '',
              '| model | precision | mode | inference img/s | ms/iter | test memory | '
              'training img/s | train memory | vs Swin | vs reference | status |',
              '|---|---|---|---|---|---|---|---|---|---|---|']
    for r in report['throughput']:
        lines.append(
            f'| {r["model"]} | {r["precision"]} | {r["mode"]} | {_num(r["infer_img_s"])} | '
            f'{_num(r["infer_ms"], ".2f")} | {_mib(r["test_memory"])} | '
            f'{_num(r.get("train_img_s"))} | {_mib(r.get("train_memory"))} | '
            f'{_num(r.get("vs_swin"), ".2f")} | {_num(r.get("vs_reference"), ".2f")} | '
            f'{status_text(r)} |')
    models = dict((r['model'], r['what']) for r in report['throughput'] if r['what'])
    lines += ['', 'Models: ' + '; '.join(f'{k}: {v}' for k, v in models.items()) + '.']
    lines += ['', '## Goals', '', '| goal | measured | met |', '|---|---|---|']
    for g in report['goals']:
        lines.append(f'| {g["goal"]} | {g["measured"]} | {g["met"]} |')
    return '\n'.join(lines) + '\n'


def machine_meta(profile: Profile, argv: Sequence[str]) -> dict:
    """What ran where: device, versions, date, command."""
    import mmengine
    meta = dict(machine=machine_info(profile.device), command=' '.join(argv),
                profile=profile.device, torch=torch.__version__, mmengine=mmengine.__version__,
                mmcv=mmcv_description(), python=platform.python_version())
    if profile.device == 'cuda':
        props = torch.cuda.get_device_properties(0)
        meta.update(gpu=f'{props.name}, {props.total_memory / 2 ** 30:.0f} GiB, '
                        f'sm_{props.major}{props.minor}',
                    cuda=torch.version.cuda, cudnn=str(torch.backends.cudnn.version()))
    return meta


def mmcv_description() -> str:
    """mmcv's version and whether its compiled ops are there (mmcv-lite has none)."""
    try:
        import mmcv
    except ImportError as e:
        return f'not importable ({e})'
    try:
        from mmcv.ops import get_compiling_cuda_version
        ops = f'compiled ops, CUDA {get_compiling_cuda_version()}'
    except (ImportError, OSError) as e:
        ops = f'no compiled ops ({type(e).__name__})'
    return f'{mmcv.__version__}, {ops}'


# ---------------------------------------------------------------- accuracy


def trained_like(arch: Union[str, dict], seed: int = 0) -> LITv2:
    """A LITv2 backbone ((B, 3, H, W) -> the 4 stage maps) in eval mode with trained-like
    weights, as tests/models/test_mixed_precision.py makes them: DTM offset convs from
    N(0, 0.02) (bias N(0, 0.1)), BatchNorm statistics and scales away from their init."""
    torch.manual_seed(seed)
    model = LITv2(arch=arch, drop_path_rate=0.)
    model.init_weights()
    for m in model.modules():
        if hasattr(m, 'conv_offset'):
            nn.init.normal_(m.conv_offset.weight, std=0.02)
            nn.init.normal_(m.conv_offset.bias, std=0.1)
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.normal_(0, 0.5)
            m.running_var.uniform_(0.5, 2.)
            nn.init.normal_(m.weight, 1., 0.2)
    return model.eval()


def forward_backward(model: nn.Module, x: torch.Tensor, precision: Optional[str] = None,
                     scale: float = 1.) -> tuple[list[torch.Tensor], dict[str, torch.Tensor]]:
    """Stage outputs and parameter gradients (fp32, on the CPU) of ``model(x)`` under
    ``precision``'s autocast for the loss ``scale * sum_i mean(out_i * w_i)``, w_i fixed
    random tensors (seeded by i: the same on every device); gradients divided by ``scale``."""
    model.zero_grad(set_to_none=True)
    with autocast(x.device.type, precision):
        outs = model(x)
    weights = [torch.randn(o.shape, generator=torch.Generator().manual_seed(i)).to(o.device)
               for i, o in enumerate(outs)]
    (scale * sum((o.float() * w).mean() for o, w in zip(outs, weights))).backward()
    grads = {n: p.grad.detach().float().cpu() / scale for n, p in model.named_parameters()}
    model.zero_grad(set_to_none=True)
    return [o.detach().float().cpu() for o in outs], grads


def inference(model: nn.Module, x: torch.Tensor,
              precision: Optional[str] = None) -> list[torch.Tensor]:
    """Stage outputs (fp32, on the CPU) of ``model(x)`` without autograd (the inference path:
    on a CPU the chunked speed-ups of litv2_mm/models/cpu_inference.py)."""
    with torch.no_grad(), autocast(x.device.type, precision):
        return [o.float().cpu() for o in model(x)]


def max_relative(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|."""
    return ((a - b).abs().max() / b.abs().max().clamp_min(1e-12)).item()


def significant(grads: dict[str, torch.Tensor], fraction: float = 1e-3) -> list[str]:
    """Names of the gradients whose norm is above ``fraction`` of the largest one: BatchNorm
    makes the true gradient of DTM's conv bias zero, so its rounding noise has no scale."""
    largest = max(g.norm().item() for g in grads.values())
    return [n for n, g in grads.items() if g.norm().item() > fraction * largest]


def all_finite(tensors: Iterable[torch.Tensor]) -> bool:
    return all(bool(torch.isfinite(t).all()) for t in tensors)


def check_device_parity(report: Report, label: str, model: nn.Module, device_model: nn.Module,
                        x: torch.Tensor) -> None:
    """CUDA against the CPU in fp32 (TF32 off): outputs with and without autograd, gradients."""
    start = time.monotonic()
    with tf32(False):
        out_c, grad_c = forward_backward(model, x)
        out_d, grad_d = forward_backward(device_model, x.to('cuda'))
        inf_c, inf_d = inference(model, x), inference(device_model, x.to('cuda'))
    out_err = max(max_relative(a, b) for a, b in zip(out_d, out_c))
    inf_err = max(max_relative(a, b) for a, b in zip(inf_d, inf_c))
    grad_err = {n: max_relative(grad_d[n], grad_c[n]) for n in significant(grad_c)}
    worst = max(grad_err, key=grad_err.get)
    finite = all_finite([*out_d, *inf_d, *grad_d.values()])
    ok = finite and max(out_err, inf_err, grad_err[worst]) <= DEVICE_TOL
    reason = '' if ok else ('not finite on CUDA' if not finite else
                            f'over {DEVICE_TOL:.0e}: outputs {out_err:.2e}, no grad '
                            f'{inf_err:.2e}, gradient of {worst} {grad_err[worst]:.2e}')
    report.check('accuracy', f'{label} cuda vs cpu fp32', 'passed' if ok else 'failed', reason,
                 time.monotonic() - start, outputs=out_err, outputs_no_grad=inf_err,
                 gradients_max=grad_err[worst], worst_gradient=worst)


def check_autocast(report: Report, label: str, model: nn.Module, x: torch.Tensor) -> None:
    """fp16 and bf16 autocast against fp32 on the model's device: outputs (no grad, relative
    norm per stage) and gradients (all together, each significant tensor)."""
    device = x.device.type
    with tf32(False):
        ref_inf = inference(model, x)
        _, ref_grad = forward_backward(model, x)
    keep = significant(ref_grad)
    flat_ref = torch.cat([g.flatten() for g in ref_grad.values()])
    for precision in ('fp16', 'bf16'):
        name = f'{label} autocast {precision} vs fp32'
        skip = cpu_precision_skip(precision) if device == 'cpu' else None
        if skip:
            report.check('accuracy', name, 'skipped', skip)
            continue
        start = time.monotonic()
        scale = FP16_LOSS_SCALE if precision == 'fp16' else 1.
        with tf32(False):
            low_inf = inference(model, x, precision)
            _, low_grad = forward_backward(model, x, precision, scale)
        stages = [relative_difference(a, b) for a, b in zip(low_inf, ref_inf)]
        total = relative_difference(torch.cat([g.flatten() for g in low_grad.values()]),
                                    flat_ref)
        each = {n: relative_difference(low_grad[n], ref_grad[n]) for n in keep}
        worst = max(each, key=each.get)
        finite = all_finite([*low_inf, *low_grad.values()])
        fwd_tol, (total_tol, each_tol) = FWD_TOL[precision], GRAD_TOL[precision]
        problems = [text for bad, text in (
            (not finite, 'not finite'),
            (max(stages) > fwd_tol, f'stage outputs {max(stages):.2%} > {fwd_tol:.1%}'),
            (total > total_tol, f'all gradients {total:.2%} > {total_tol:.0%}'),
            (each[worst] > each_tol, f'gradient of {worst} {each[worst]:.2%} > {each_tol:.0%}'),
        ) if bad]
        report.check('accuracy', name, 'failed' if problems else 'passed', '; '.join(problems),
                     time.monotonic() - start, stages=stages, gradients=total,
                     gradient_max=each[worst], worst_gradient=worst)


def run_accuracy(report: Report) -> None:
    profile = report.profile
    for name, arch in profile.archs:
        model = trained_like(arch)
        on_cuda = profile.device == 'cuda'
        device_model = copy.deepcopy(model).to('cuda') if on_cuda else model
        for batch, h, w in profile.accuracy_inputs:
            label = f'{name} {h}x{w} b{batch}'
            x = torch.randn(batch, 3, h, w, generator=torch.Generator().manual_seed(1))
            if on_cuda:
                check_device_parity(report, label, model, device_model, x)
            else:
                report.check('accuracy', f'{label} cuda vs cpu fp32', 'skipped', NEEDS_CUDA)
            check_autocast(report, label, device_model, x.to(profile.device))
        del model, device_model
        free_memory()


# ---------------------------------------------------------------- training


@TRANSFORMS.register_module(name='GpuCheckMakeImage', force=True)
class MakeImage:
    """An item of the training checks' data set: a (3, H, W) image drawn from N(label, 1) by a
    generator seeded with the item's index (the same in every run), then augmented from the
    global generators, as mmcv's transforms draw: a horizontal flip (Python's ``random``), a
    brightness shift (numpy) and noise (torch). -> dict(inputs, label, idx)."""

    def __init__(self, shape: Sequence[int]) -> None:
        self.shape = tuple(shape)

    def __call__(self, results: dict) -> dict:
        idx = int(results['sample_idx'])
        image = torch.randn(3, *self.shape, generator=torch.Generator().manual_seed(idx))
        image = image + results['label']
        if random.random() < 0.5:
            image = image.flip(-1)
        image = image + float(np.random.uniform(-0.1, 0.1)) + 0.05 * torch.randn(image.shape)
        return dict(inputs=image, label=results['label'], idx=idx)


@DATASETS.register_module(name='GpuCheckImages', force=True)
class RandomImages(BaseDataset):
    """``size`` items with labels ``i % num_classes``, made by the pipeline (MakeImage)."""

    def __init__(self, size: int = 64, num_classes: int = NUM_CLASSES, **kwargs: Any) -> None:
        self.size, self.num_classes = size, num_classes
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        return [dict(label=i % self.num_classes) for i in range(self.size)]


@MODELS.register_module(name='GpuCheckClassifier', force=True)
class Classifier(BaseModel):
    """A LITv2 backbone (drop path 0.1), global average pooling of its last stage, dropout
    and a linear head: (B, 3, H, W) images -> (B, num_classes) logits, or
    dict(loss=cross-entropy) in 'loss' mode."""

    def __init__(self, arch: Union[str, dict], num_classes: int = NUM_CLASSES,
                 drop_path_rate: float = 0.1,
                 data_preprocessor: Optional[Union[dict, nn.Module]] = None) -> None:
        super().__init__(data_preprocessor)
        self.backbone = LITv2(arch=arch, drop_path_rate=drop_path_rate, out_indices=(3,))
        self.drop = nn.Dropout(0.1)
        self.head = nn.Linear(self.backbone.embed_dims * 8, num_classes)

    def forward(self, inputs: torch.Tensor, label: Optional[torch.Tensor] = None,
                idx: Optional[torch.Tensor] = None,
                mode: str = 'tensor') -> Union[dict[str, torch.Tensor], torch.Tensor]:
        logits = self.head(self.drop(self.backbone(inputs)[-1].mean(dim=(2, 3))))
        return dict(loss=F.cross_entropy(logits, label)) if mode == 'loss' else logits


def rng_digests() -> dict[str, str]:
    """{generator: a digest of its state} of Python's, numpy's, torch's CPU and (where CUDA
    is used) the current CUDA device's generators
    (:func:`litv2_mm.engine.random_states.get_rng_states`)."""
    return {k: hashlib.sha256(pickle.dumps(v)).hexdigest()[:16]
            for k, v in get_rng_states().items()}


@HOOKS.register_module(name='GpuCheckRecordHook', force=True)
class RecordHook(Hook):
    """Append one JSON line per training iteration to ``path``: the iteration (1-based), the
    indices of its batch, :func:`rng_digests` after it, the loss; and one line
    ``{"event": "before_train"}`` when training starts (everything is built). Priority
    VERY_LOW: before the PreemptionHook (LOWEST) stops the run."""

    priority = 'VERY_LOW'

    def __init__(self, path: str) -> None:
        self.path = path

    def before_train(self, runner: 'Runner') -> None:
        with open(self.path, 'a') as f:
            f.write(json.dumps(dict(event='before_train')) + '\n')

    def after_train_iter(self, runner: 'Runner', batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        record = dict(iter=runner.iter + 1, indices=[int(i) for i in data_batch['idx']],
                      rng=rng_digests(), loss=float(outputs['loss']))
        with open(self.path, 'a') as f:
            f.write(json.dumps(record) + '\n')


@HOOKS.register_module(name='GpuCheckAwaitSignalHook', force=True)
class AwaitSignalHook(Hook):
    """When iteration ``at_iter`` (1-based) starts, write this process's group id to
    ``marker`` and wait, at most ``timeout`` s, until the PreemptionHook has received a stop
    signal: the signal, sent by another process, arrives while that iteration is in flight,
    whatever the machine's speed."""

    priority = 'HIGHEST'

    def __init__(self, at_iter: int, marker: str, timeout: float = 120.) -> None:
        self.at_iter, self.marker, self.timeout = at_iter, marker, timeout

    def before_train_iter(self, runner: 'Runner', batch_idx: int,
                          data_batch: Optional[dict] = None) -> None:
        if runner.iter + 1 != self.at_iter:
            return
        preemption = next((h for h in runner.hooks if isinstance(h, PreemptionHook)), None)
        if preemption is None:
            raise RuntimeError('GpuCheckAwaitSignalHook: the run has no PreemptionHook')
        with open(self.marker, 'w') as f:
            f.write(str(os.getpgid(0)))
        deadline = time.monotonic() + self.timeout
        while preemption.received is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f'no stop signal within {self.timeout} s of the start of '
                                   f'iteration {self.at_iter}')
            time.sleep(0.01)


def train_config(spec: dict) -> 'Config':
    """The config of one training-check run. ``spec``: dict(work_dir, arch, shape, batch,
    iters, deterministic, resume_from, signal_at, marker)."""
    from mmengine.config import Config
    runtime_file = osp.join(REPO, 'configs', '_base_', 'litv2_runtime.py')
    if not osp.isfile(runtime_file):
        raise FileNotFoundError(f'the training checks take their hooks from {runtime_file}, '
                                'which is missing: run the kit from a checkout of the repo')
    runtime = Config.fromfile(runtime_file)
    hooks = [*runtime.custom_hooks,
             dict(type='GpuCheckRecordHook', path=osp.join(spec['work_dir'], 'records.jsonl'))]
    if spec.get('signal_at'):
        hooks.append(dict(type='GpuCheckAwaitSignalHook', at_iter=spec['signal_at'],
                          marker=spec['marker']))
    iters = spec['iters']
    return Config(dict(
        runner_type=runtime.runner_type, custom_hooks=hooks,
        model=dict(type='GpuCheckClassifier', arch=spec['arch']),
        work_dir=spec['work_dir'],
        train_dataloader=dict(
            dataset=dict(type='GpuCheckImages',
                         pipeline=[dict(type='GpuCheckMakeImage', shape=spec['shape'])]),
            sampler=dict(type='InfiniteSampler', shuffle=True), batch_size=spec['batch'],
            num_workers=2, persistent_workers=True, collate_fn=dict(type='default_collate')),
        train_cfg=dict(type='ResumableIterBasedTrainLoop', max_iters=iters),
        optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.05)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=iters,
                            backend_args=dict(backend='atomic_local')),
            logger=dict(type='LoggerHook', interval=1)),
        log_processor=dict(by_epoch=False),
        randomness=dict(seed=0, deterministic=spec['deterministic']),
        resume=spec.get('resume_from') is not None, load_from=spec.get('resume_from'),
        default_scope='mmengine'))


def train_child(payload: str) -> None:
    """A training-check process (started by :func:`start_run`): build and train."""
    from mmengine.registry import RUNNERS
    RUNNERS.build(train_config(json.loads(payload))).train()


def start_run(spec: dict, device: str) -> subprocess.Popen:
    """Start one training run in a session (process group) of its own, its output to
    ``work_dir/log.txt``; CUDA hidden on a CPU profile. Returns the Popen."""
    os.makedirs(spec['work_dir'], exist_ok=True)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p),
               PYTHONUNBUFFERED='1')
    if device == 'cpu':
        env['CUDA_VISIBLE_DEVICES'] = ''
    code = ('import sys; from litv2_mm.analysis.gpu_check import train_child; '
            'train_child(sys.argv[1])')
    with open(osp.join(spec['work_dir'], 'log.txt'), 'a') as log:
        return subprocess.Popen([sys.executable, '-c', code, json.dumps(spec)], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)


def finish_run(proc: subprocess.Popen, timeout: float) -> Optional[int]:
    """Wait for a run; one that outlasts ``timeout`` s is killed with its whole process group
    (its dataloader workers) and reported as exit status None."""
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return None


@dataclass
class Run:
    """A finished training run: exit status (None: killed after its timeout), output,
    iteration records (:class:`RecordHook`), whether training started, wall seconds."""

    work_dir: str
    status: int
    log: str
    records: list
    started: bool
    seconds: float

    def weights(self, iteration: int) -> dict[str, torch.Tensor]:
        """The model weights of its ``iter_<iteration>.pth``."""
        path = osp.join(self.work_dir, f'iter_{iteration}.pth')
        if not osp.isfile(path):
            raise FileNotFoundError(f'the run in {self.work_dir} ended without {path}')
        return torch.load(path, map_location='cpu', weights_only=True)['state_dict']

    def tail(self, lines: int = 3) -> str:
        return ' | '.join(self.log.strip().splitlines()[-lines:])


def read_run(spec: dict, status: Optional[int], start: float) -> Run:
    work_dir = spec['work_dir']
    with open(osp.join(work_dir, 'log.txt')) as f:
        log = f.read()
    path = osp.join(work_dir, 'records.jsonl')
    lines = [json.loads(line) for line in open(path)] if osp.exists(path) else []
    records = [r for r in lines if 'iter' in r]
    return Run(work_dir, status, log, records, len(records) < len(lines),
               time.monotonic() - start)


def train(spec: dict, device: str, timeout: float = 300.) -> Run:
    """Run one training to its end; returns a :class:`Run`."""
    start = time.monotonic()
    status = finish_run(start_run(spec, device), timeout)
    return read_run(spec, status, start)


def train_and_stop(spec: dict, device: str, timeout: float = 300.) -> Run:
    """Run one training and, once iteration ``spec['signal_at']`` has started, send SIGTERM to
    its whole process group from this process (``kill -s TERM -- -PGID``, as torchrun's
    agent, slurm and Kubernetes signal every process of a job); returns a :class:`Run`."""
    start = time.monotonic()
    proc = start_run(spec, device)
    while not osp.exists(spec['marker']) and proc.poll() is None:
        if time.monotonic() - start > timeout:
            break
        time.sleep(0.05)
    if proc.poll() is None and osp.exists(spec['marker']):
        if shutil.which('kill'):
            subprocess.run(['kill', '-s', 'TERM', '--', f'-{os.getpgid(proc.pid)}'], check=True)
        else:  # no kill program: from this process, still not the run's
            os.killpg(os.getpgid(proc.pid), signal.SIGTERM)
    status = finish_run(proc, max(timeout - (time.monotonic() - start), 10.))
    return read_run(spec, status, start)


def weights_difference(a: dict[str, torch.Tensor],
                       b: dict[str, torch.Tensor]) -> tuple[bool, float]:
    """(bitwise equal, max over tensors of max |a - b| / max |b|) of two state dicts."""
    if a.keys() != b.keys():
        return False, math.inf
    bitwise = all(torch.equal(a[k], b[k]) for k in a)
    worst = max((max_relative(a[k].float(), b[k].float()) for k in a
                 if a[k].is_floating_point() and a[k].numel()), default=0.)
    return bitwise, worst


def first_difference(expected: list[dict], got: list[dict]) -> str:
    """Where two lists of records first differ: 'iteration N: what', or '' if they agree."""
    if [r['iter'] for r in got] != [r['iter'] for r in expected]:
        return (f'iterations {[r["iter"] for r in got]}, expected '
                f'{[r["iter"] for r in expected]}')
    for e, g in zip(expected, got):
        if e['indices'] != g['indices']:
            return f'iteration {e["iter"]}: batch {g["indices"]}, expected {e["indices"]}'
        states = [k for k in e['rng'] if e['rng'][k] != g['rng'].get(k)]
        if states:
            return f'iteration {e["iter"]}: random states of {", ".join(states)} differ'
    return ''


def failed_run(name: str, run: Run) -> str:
    if run.status is None:
        return f'{name} did not end in time and was killed'
    return f'{name} exited {run.status}: {run.tail()}'


def run_training(report: Report) -> None:
    """The training checks (see the module doc), every run in a temporary folder."""
    with tempfile.TemporaryDirectory(prefix='gpu_check_training_') as work_root:
        training_checks(report, work_root)


def training_checks(report: Report, work_root: str) -> None:
    profile = report.profile
    base = dict(arch=profile.train_arch, shape=profile.train_shape, batch=profile.train_batch,
                iters=TRAIN_ITERS, deterministic=False)
    on_cuda = profile.device == 'cuda'

    full = train(dict(base, work_dir=osp.join(work_root, 'full')), profile.device)
    stopped_spec = dict(base, work_dir=osp.join(work_root, 'stopped'), signal_at=STOP_AT,
                        marker=osp.join(work_root, 'stopped', 'at_iteration'))
    stopped = train_and_stop(stopped_spec, profile.device)
    checkpoint = osp.join(stopped.work_dir, f'iter_{STOP_AT}.pth')
    last = osp.join(stopped.work_dir, 'last_checkpoint')
    problems = [text for bad, text in (
        (stopped.status != PREEMPTED_EXIT_STATUS,
         f'exit status {stopped.status}, expected {PREEMPTED_EXIT_STATUS}: {stopped.tail()}'),
        (f'SIGTERM received: stopped after iteration {STOP_AT}' not in stopped.log,
         'no "SIGTERM received: stopped after iteration" in its log'),
        ('killed by signal' in stopped.log, 'a dataloader worker was killed by the signal'),
        (not osp.isfile(checkpoint), f'no checkpoint {checkpoint}'),
        (not osp.isfile(last) or open(last).read().strip() != checkpoint,
         f'last_checkpoint does not name {checkpoint}'),
    ) if bad]
    report.check('training', f'SIGTERM to the process group in iteration {STOP_AT} (2 workers)',
                 'failed' if problems else 'passed', '; '.join(problems), stopped.seconds,
                 exit_status=stopped.status, iterations=len(stopped.records))

    if full.status != 0 or problems:
        reason = failed_run('the uninterrupted run', full) if full.status != 0 else \
            'the stopped run has no checkpoint to resume'
        report.check('training', 'resume restores the random states exactly', 'failed', reason)
    else:
        resumed = train(dict(base, work_dir=stopped.work_dir, resume_from=checkpoint),
                        profile.device)
        check_resume(report, full, resumed, on_cuda)

    check_deterministic(report, base, work_root)


def check_deterministic(report: Report, base: dict, work_root: str) -> None:
    """``randomness.deterministic=True`` as ``--deterministic`` sets it (``LITv2Runner`` sets
    the ``CUBLAS_WORKSPACE_CONFIG`` cuBLAS needs): the run ends (or is refused before
    training, named), and a second one ends with bitwise the same weights."""
    device = report.profile.device
    name = 'deterministic=True runs'
    runs = []
    for i in (1, 2):
        run = train(dict(base, work_dir=osp.join(work_root, f'deterministic_{i}'),
                         deterministic=True), device)
        runs.append(run)
        if run.status == 0:
            continue
        if i == 2:
            report.check('training', 'deterministic=True: two runs bitwise equal', 'failed',
                         failed_run('the second run', run), run.seconds)
            return
        before = run.started is False and run.status is not None
        report.check('training', name, 'passed' if before else 'failed',
                     ('refused before training: ' if before else
                      f'failed in iteration {len(run.records) + 1}: ') + run.tail(),
                     run.seconds, outcome='refused before training' if before else 'failed')
        return
    report.check('training', name, 'passed', '', runs[0].seconds, outcome='ran',
                 iterations=len(runs[0].records))
    bitwise, worst = weights_difference(*(r.weights(TRAIN_ITERS) for r in runs))
    report.check('training', 'deterministic=True: two runs bitwise equal',
                 'passed' if bitwise else 'failed',
                 '' if bitwise else f'weights differ: {worst:.2e} relative', runs[1].seconds,
                 bitwise=bitwise, weights_max_relative=worst)


def check_resume(report: Report, full: Run, resumed: Run, on_cuda: bool) -> None:
    """The stopped-then-resumed run (its records: the stopped run's, then the resumed run's)
    against the uninterrupted one: batches and random states after every iteration equal,
    final weights bitwise (CPU) or within RESUME_TOL_CUDA (CUDA's atomic-add kernels)."""
    name = 'resume restores the random states exactly'
    if resumed.status != 0:
        report.check('training', name, 'failed', failed_run('the resumed run', resumed))
        return
    where = first_difference(full.records, resumed.records)
    bitwise, worst = weights_difference(resumed.weights(TRAIN_ITERS),
                                        full.weights(TRAIN_ITERS))
    weights_ok = bitwise or (on_cuda and worst <= RESUME_TOL_CUDA)
    problems = [text for bad, text in (
        (bool(where), where),
        (not weights_ok, f'final weights differ from the uninterrupted run\'s: {worst:.2e} '
                         'relative'),
    ) if bad]
    report.check('training', name, 'failed' if problems else 'passed', '; '.join(problems),
                 resumed.seconds, iterations=len(resumed.records), weights_bitwise=bitwise,
                 weights_max_relative=worst)


# ---------------------------------------------------------------- throughput


def build_swin(size: tuple[int, Sequence[int], Sequence[int]],
               shape: Sequence[int]) -> tuple[nn.Module, str]:
    """A Swin Transformer of ``size`` (embed_dims, depths, num_heads; window 7) for (B, 3, H, W)
    images of ``shape``: mmdet's backbone, else mmpretrain's, else timm's classifier without
    its head -> (module, what). Raises ImportError naming why each is missing."""
    embed_dims, depths, num_heads = size
    dims = f'embed {embed_dims}, depths {"-".join(map(str, depths))}, window 7'
    errors = []
    try:
        from mmdet.models.backbones import SwinTransformer
        return (SwinTransformer(embed_dims=embed_dims, depths=depths, num_heads=num_heads,
                                window_size=7, out_indices=(0, 1, 2, 3)),
                f"mmdet's SwinTransformer backbone ({dims})")
    except Exception as e:  # mmdet needs mmcv's compiled ops: mmcv-lite fails at import
        errors.append(f'mmdet: {type(e).__name__}: {e}')
    try:
        from mmpretrain.models.backbones import SwinTransformer
        arch = dict(embed_dims=embed_dims, depths=depths, num_heads=num_heads)
        return (SwinTransformer(arch=arch, img_size=shape, out_indices=(0, 1, 2, 3)),
                f"mmpretrain's SwinTransformer backbone ({dims})")
    except Exception as e:
        errors.append(f'mmpretrain: {type(e).__name__}: {e}')
    try:
        import timm
        return (timm.create_model('swin_tiny_patch4_window7_224', pretrained=False,
                                  num_classes=0, img_size=shape, embed_dim=embed_dims,
                                  depths=depths, num_heads=num_heads),
                f'timm {timm.__version__} swin_tiny_patch4_window7_224, no head ({dims})')
    except Exception as e:
        errors.append(f'timm: {type(e).__name__}: {e}')
    raise ImportError('no Swin Transformer: ' + '; '.join(errors))


def _deform_conv2d(op: str) -> Callable[[ReferenceDeformConv, torch.Tensor], torch.Tensor]:
    """``forward(module, x)`` of a ReferenceDeformConv through ``op`` ('mmcv' or
    'torchvision', the same op: tools/check_mmcv_ops.py compares them), in fp32 under
    autocast (mmcv's kernels have no bf16; torchvision's autocast rule does the same)."""
    if op == 'mmcv':
        from mmcv.ops import deform_conv2d as mmcv_op

        def conv(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor) -> torch.Tensor:
            return mmcv_op(x.contiguous(), offset.contiguous(), weight, stride=2) \
                + bias.view(1, -1, 1, 1)
    else:
        from torchvision.ops import deform_conv2d as torchvision_op

        def conv(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                 bias: torch.Tensor) -> torch.Tensor:
            return torchvision_op(x, offset, weight, bias, stride=2)

    def forward(self: ReferenceDeformConv, x: torch.Tensor) -> torch.Tensor:
        offset = self.conv_offset(x)
        with torch.autocast(x.device.type, enabled=False):
            return conv(x.float(), offset.float(), self.weight, self.bias)
    return forward


def mmcv_deform_conv_runs(device: str) -> bool:
    """Whether mmcv's compiled deform_conv2d runs on ``device``."""
    try:
        from mmcv.ops import deform_conv2d
        x = torch.zeros(1, 1, 2, 2, device=device)
        deform_conv2d(x, torch.zeros(1, 8, 1, 1, device=device),
                      torch.zeros(1, 1, 2, 2, device=device), stride=2)
        return True
    except (ImportError, OSError, RuntimeError):
        return False


def reference_of(model: LITv2, device: str, op: str = 'auto') -> tuple[ReferenceLITv2, str]:
    """The authors' formulation of ``model`` (:func:`reference_litv2`, same weights) and the
    name of its deformable-conv op: mmcv's where its compiled ops run on ``device`` (``op``
    'auto'), else (or with ``op='torchvision'``) torchvision's: mmcv-lite, which the kit
    carries, has no compiled ops. The op runs in fp32 under autocast (:func:`_deform_conv2d`).
    """
    reference = reference_litv2(model)
    op = 'mmcv' if op == 'auto' and mmcv_deform_conv_runs(device) else 'torchvision'
    forward = _deform_conv2d(op)
    for m in reference.modules():
        if isinstance(m, ReferenceDeformConv):
            m.forward = types.MethodType(forward, m)
    return reference, f'{op}.ops.deform_conv2d'


def timed_specs(profile: Profile) -> list[str]:
    """The models timed: the profile's LITv2 archs, the reference of the first, Swin-T."""
    names = [name for name, _ in profile.archs]
    return [*names, f'{names[0]}:reference', profile.swin[0]]


def build_timed(spec: str, profile: Profile) -> tuple[nn.Module, str]:
    """(module on the CPU, eval mode; what it is) of one of :func:`timed_specs`."""
    if spec == profile.swin[0]:
        return build_swin(profile.swin[1], profile.shape)
    torch.manual_seed(0)
    model = LITv2(arch=dict(profile.archs)[spec.split(':')[0]], drop_path_rate=0.)
    model.init_weights()
    if spec.endswith(':reference'):
        reference, op = reference_of(model, profile.device)
        return reference.eval(), f"authors' formulation, DTM through {op}"
    return model.eval(), 'litv2_mm LITv2 backbone'


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


class PeakMemory:
    """Peak CUDA memory of a step, in bytes: the allocator's peak of allocated bytes over those
    allocated at :meth:`baseline` (taken before the model moves to the GPU: its weights,
    input, activations and, in a training step, gradients count). None on a CPU: its
    allocator keeps no such statistics (the CPU run reports memory as skipped: needs CUDA)."""

    def __init__(self, device: str) -> None:
        self.cuda = device == 'cuda'
        self.base = 0

    def baseline(self) -> None:
        free_memory()
        if self.cuda:
            self.base = torch.cuda.memory_allocated()

    def peak(self, step: Callable[[], Any]) -> Optional[int]:
        if not self.cuda:
            return None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        step()
        torch.cuda.synchronize()
        return torch.cuda.max_memory_allocated() - self.base


def time_step(step: Callable[[], Any], warmup: int, runs: int, device: str) -> float:
    """Median seconds per call of ``step`` after ``warmup`` calls."""
    times = time_interleaved(dict(step=step), runs, warmup, device, progress=False)['step']
    return float(np.median(times))


def new_row(spec: str, precision: str, mode: str, what: str = '') -> dict:
    return dict(model=spec, precision=precision, mode=mode, what=what, status='passed',
                reason='', infer_img_s=None, infer_ms=None, test_memory=None,
                train_img_s=None, train_ms=None, train_memory=None, compile_s=None)


def measure_row(row: dict, module: nn.Module, profile: Profile,
                compile_backend: Optional[str] = None) -> None:
    """Fill ``row`` with inference img/s and memory and, eager, training-step img/s and
    memory of ``module`` (moved to the device) at the profile's batch and shape."""
    device, batch = profile.device, profile.batch
    settings = Settings(batch=batch, shape=profile.shape, device=device,
                        amp=row['precision'] if row['precision'] in AMP_DTYPES else None)
    memory = PeakMemory(device)
    memory.baseline()
    with tf32(row['precision'] == 'tf32'):
        runner = module
        if compile_backend:
            torch._dynamo.reset()
            runner = torch.compile(module, backend=compile_backend)
        step = make_step(runner, settings, backward=False)
        if compile_backend:
            start = time.perf_counter()
            step()
            sync(device)
            row['compile_s'] = time.perf_counter() - start
        seconds = time_step(step, profile.warmup, profile.runs, device)
        row.update(infer_ms=1e3 * seconds, infer_img_s=batch / seconds,
                   test_memory=memory.peak(step))
        del step
        if not compile_backend:
            step = make_step(module, settings, backward=True)
            seconds = time_step(step, profile.train_warmup, profile.train_runs, device)
            row.update(train_ms=1e3 * seconds, train_img_s=batch / seconds,
                       train_memory=memory.peak(step))
            del step
    for p in module.parameters():
        p.grad = None
    numbers = [v for k, v in row.items() if k.endswith(('_img_s', '_ms')) and v is not None]
    if not all(math.isfinite(v) and v > 0 for v in numbers):
        row.update(status='failed', reason=f'non-finite or non-positive timing: {numbers}')


def run_row(report: Report, row: dict, module: nn.Module,
            compile_backend: Optional[str] = None) -> None:
    try:
        measure_row(row, module, report.profile, compile_backend)
    except Exception as e:  # an op the device lacks, out of memory: named in the row
        row.update(status='failed', reason=f'{type(e).__name__}: {str(e)[:300]}')
    finally:
        module.to('cpu')
        free_memory()
    report.row(row)


def row_skip(profile: Profile, precision: str) -> Optional[str]:
    if profile.device == 'cpu':
        if precision == 'fp16':
            return f'{NEEDS_CUDA} (no fast fp16 kernels on a CPU)'
        return cpu_precision_skip(precision)
    return None


def run_throughput(report: Report) -> None:
    """Every model of :func:`timed_specs` in every precision, eager; then the profile's
    compiled rows while its time budget allows one; then the ratios and the goals. cuDNN
    picks its fastest algorithms (``cudnn.benchmark``), as the paper's protocol (Swin's
    main.py) times."""
    profile = report.profile
    benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = True
    try:
        time_models(report)
    finally:
        torch.backends.cudnn.benchmark = benchmark
    add_ratios(report.rows, profile.archs[0][0], profile.swin[0])
    report.goals[:] = goals(report.rows, profile)
    report.write()


def time_models(report: Report) -> None:
    """The rows of :func:`run_throughput`."""
    profile = report.profile
    models = {}
    for spec in timed_specs(profile):
        try:
            models[spec] = build_timed(spec, profile)
        except ImportError as e:  # Swin where neither mmdet, mmpretrain nor timm imports
            report.check('throughput', f'{spec} available', 'failed', str(e)[:500])
            continue
        module, what = models[spec]
        for precision in PRECISIONS:
            row = new_row(spec, precision, 'eager', what)
            skip = row_skip(profile, precision)
            if skip:
                row.update(status='skipped', reason=skip)
                report.row(row)
                continue
            run_row(report, row, module)
    estimate = profile.first_compile_s
    for spec, precision in profile.compiled:
        row = new_row(spec, precision, f'compiled ({profile.compile_backend})')
        skip = row_skip(profile, precision)
        if spec not in models:
            skip = f'skipped: no {spec}'
        elif report.remaining() < estimate:
            skip = (f'skipped: time budget ({max(report.remaining(), 0):.0f} s left of '
                    f'{profile.budget_s:.0f} s, a compiled row takes about {estimate:.0f} s)')
        if skip:
            row.update(status='skipped', reason=skip)
            report.row(row)
            continue
        module, row['what'] = models[spec]
        start = time.monotonic()
        run_row(report, row, module, profile.compile_backend)
        estimate = max(1.2 * (time.monotonic() - start), estimate / 2)


def add_ratios(rows: list[dict], first: str, swin: str) -> None:
    """``vs_swin`` and ``vs_reference`` of every row: its inference img/s over the Swin
    Transformer's (``swin``) and over the reference's (of LITv2 ``first``) in the same
    precision and mode (the reference: eager)."""
    speed = {(r['model'], r['precision'], r['mode']): r['infer_img_s'] for r in rows
             if r['status'] == 'passed'}
    for r in rows:
        mine = speed.get((r['model'], r['precision'], r['mode']))
        other = speed.get((swin, r['precision'], r['mode']))
        ref = speed.get((f'{first}:reference', r['precision'], 'eager'))
        r['vs_swin'] = mine / other if mine and other else None
        r['vs_reference'] = mine / ref if mine and ref and r['model'].startswith('litv2') \
            else None


def goals(rows: list[dict], profile: Profile) -> list[dict]:
    """The issue's goals, from LITv2-S's fastest bf16 row (eager or compiled) and Swin-T in
    the same mode; on a CPU profile they are not measured."""
    if profile.device != 'cuda':
        return [dict(goal=g, measured=NEEDS_CUDA, met=None) for g in
                (f'LITv2-S >= {GOAL_IMG_S:.0f} img/s, bf16, b64, 224', 'LITv2-S >= 1.5x Swin-T')]
    first = profile.archs[0][0]
    best = max((r for r in rows if r['model'] == first and r['precision'] == 'bf16'
                and r['status'] == 'passed'), key=lambda r: r['infer_img_s'], default=None)
    if best is None:
        return [dict(goal='LITv2-S bf16 measured', measured='no passed bf16 row', met=False)]
    ratio = best.get('vs_swin')
    return [dict(goal=f'LITv2-S >= {GOAL_IMG_S:.0f} img/s, bf16, b{profile.batch}, '
                      f'{profile.shape[0]}', measured=f'{best["infer_img_s"]:.0f} img/s '
                      f'({best["mode"]})', met=best['infer_img_s'] >= GOAL_IMG_S),
            dict(goal=f'LITv2-S >= {GOAL_VS_SWIN}x Swin-T, same run',
                 measured='no Swin-T row' if ratio is None else f'{ratio:.2f}x ({best["mode"]})',
                 met=ratio is not None and ratio >= GOAL_VS_SWIN)]


# ---------------------------------------------------------------- the run

SECTIONS = dict(accuracy=run_accuracy, training=run_training, throughput=run_throughput)


def run_checks(profile: Profile, out_dir: str,
               sections: Sequence[str] = ('accuracy', 'training', 'throughput'),
               argv: Sequence[str] = ()) -> Report:
    """Run ``sections`` of the kit under ``profile``; returns the :class:`Report` (also
    written to ``out_dir``)."""
    if profile.device == 'cuda' and not torch.cuda.is_available():
        raise RuntimeError('the cuda profile needs a CUDA device; torch sees none (use the '
                           'cpu profile: tools/gpu_check.sh --cpu)')
    report = Report(out_dir, profile, machine_meta(profile, argv))
    report.say(f'profile {profile.device}: {", ".join(sections)}; report in {out_dir}')
    for section in sections:
        report.say(f'--- {section}')
        SECTIONS[section](report)
    report.say(f'done: {len(report.failed())} failed; {osp.join(out_dir, "report.md")}')
    return report


# ---------------------------------------------------------------- --detector


def detector_summary(work_dir: str, out_dir: str, log_text: str = '') -> list[dict]:
    """Checks of a ``tools/gpu_check.sh --detector`` run from its work dir: the training
    losses finite, AmpOptimWrapper in the dumped config, bbox and segm mAP evaluated, and
    ``test.py --amp`` evaluated (``log_text``: its output). Writes
    ``detector_report.json`` / ``.md`` to ``out_dir``; returns the checks."""
    import glob
    checks = []

    def add(name: str, ok: bool, detail: str) -> None:
        checks.append(dict(name=name, status='passed' if ok else 'failed', details=detail))

    scalars = sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')))
    entries = [json.loads(line) for line in open(scalars[-1])] if scalars else []
    losses = [e['loss'] for e in entries if 'loss' in e]
    add('training losses finite', bool(losses) and all(math.isfinite(v) for v in losses),
        f'{len(losses)} logged, last {losses[-1]:.3f}' if losses else f'none in {work_dir}')
    configs = glob.glob(osp.join(work_dir, '*.py'))
    amp = any('AmpOptimWrapper' in open(p).read() for p in configs)
    add('trained with AmpOptimWrapper (--amp)', amp, ', '.join(configs) or 'no dumped config')
    evals = [e for e in entries if 'coco/bbox_mAP' in e]
    add('evaluated (CocoMetric bbox, segm)', bool(evals) and 'coco/segm_mAP' in evals[-1],
        (f'bbox mAP {evals[-1]["coco/bbox_mAP"]:.3f}, segm mAP '
         f'{evals[-1].get("coco/segm_mAP", float("nan")):.3f}') if evals else 'no evaluation')
    add('tools/test.py --amp evaluated', 'coco/bbox_mAP' in log_text,
        next((line.strip()[-200:] for line in log_text.splitlines()
              if 'coco/bbox_mAP' in line), 'no coco/bbox_mAP in its output'))
    os.makedirs(out_dir, exist_ok=True)
    with open(osp.join(out_dir, 'detector_report.json'), 'w') as f:
        json.dump(dict(work_dir=work_dir, checks=checks), f, indent=1)
    with open(osp.join(out_dir, 'detector_report.md'), 'w') as f:
        f.write('# GPU acceptance kit: detector run\n\n| check | status | details |\n'
                '|---|---|---|\n' + ''.join(f'| {c["name"]} | {c["status"]} | '
                                            f'{c["details"]} |\n' for c in checks))
    return checks
