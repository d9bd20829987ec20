"""CPU inference speed-ups of LITv2: where they apply, how they are switched, and the CPU
facts they depend on. The computations themselves are the layers' own methods, beside
their plain forwards: :meth:`~litv2_mm.models.ConvFFN.residual_in_chunks` and
:meth:`~litv2_mm.models.HiLoAttention.hilo_in_image_groups`.

A CPU has no caching allocator: every buffer above glibc's mmap threshold (32 MB) is fresh
memory whose page faults cost about as much as the arithmetic on it, and a buffer that
outgrows the last-level cache is streamed from memory again by every following op. So
without autograd the layers whose work is independent per image or per row run in chunks
whose widest intermediate holds at most ``CHUNK_ELEMENTS`` elements (2**21, 8 MB in fp32):

* HiLo attention a few images at a time (every image attends only to itself);
* the second half of a block, ``x + ConvFFN(LayerNorm(x))``, a few images or a band of rows
  of one image at a time (the 3x3 depthwise conv takes a one-row halo from the neighbouring
  bands), with the depthwise conv and GELU fused into one oneDNN kernel and fc2 writing
  straight into the output, to which the residual is added.

Under ``torch.autocast('cpu', dtype=torch.bfloat16)`` (``--dtype bf16`` of the tools,
mmengine's ``test_cfg=dict(fp16=True)`` on a CPU) the chunks run their GEMMs and the fused
conv + GELU in bf16 with explicit casts, while the residual stream and LayerNorm stay fp32
as autocast keeps them; the attention runs under autocast. Autocast's own fp16 runs the
plain model.

The switch is read once per layer, when it is built, as timm reads its fused-attention flag
(``use_fused_attn()``): ``HiLoAttention`` and ``LITv2Block`` keep it in their
``cpu_speedups`` attribute and take the fast path where :func:`inference_dtype` says so, so
every user of the model (tools, inferencers, user code) gets the speed-ups with nothing to
call. Everywhere else (autograd, GPUs, fp16, tracing for ONNX export or FLOP counting) the
plain forward runs. ``LITV2_CPU_SPEEDUPS=0`` in the environment or
:func:`set_cpu_speedups(False) <set_cpu_speedups>` before a model is built turns them off
for it; ``set_cpu_speedups(False, model)`` for a model already built.
"""
import contextlib
import functools
import os
from typing import Iterator, Optional

import torch
import torch.nn as nn

CHUNK_ELEMENTS = 2 ** 21
"""The widest intermediate of one chunk, in elements (8 MB in fp32)."""

FUSED_CONV_GELU = (torch.backends.mkldnn.is_available()
                   and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))
"""Whether this PyTorch has oneDNN's convolution with a pointwise (GELU) post-op."""

_default = os.environ.get('LITV2_CPU_SPEEDUPS', '1').strip().lower() not in ('0', 'false', 'no')


def cpu_speedups_enabled() -> bool:
    """Whether LITv2 layers built from now on take the CPU speed-ups."""
    return _default


def set_cpu_speedups(enable: bool = True, model: Optional[nn.Module] = None) -> bool:
    """Turn the CPU inference speed-ups on (the default) or off.

    Without ``model``: for every LITv2 layer built afterwards, as timm's ``set_fused_attn``;
    returns the previous setting. With ``model``: for the layers of that model (built
    already); returns whether any of them had them on.
    """
    global _default
    if model is None:
        previous, _default = _default, bool(enable)
        return previous
    previous = False
    for module in model.modules():
        if hasattr(module, 'cpu_speedups'):
            previous = previous or module.cpu_speedups
            module.cpu_speedups = bool(enable)
    return previous


@contextlib.contextmanager
def cpu_speedups(enable: bool, model: nn.Module) -> Iterator[None]:
    """``with cpu_speedups(False, model): ...`` runs ``model``'s plain forward in the block."""
    layers = [m for m in model.modules() if hasattr(m, 'cpu_speedups')]
    previous = [m.cpu_speedups for m in layers]
    for m in layers:
        m.cpu_speedups = bool(enable)
    try:
        yield
    finally:
        for m, state in zip(layers, previous):
            m.cpu_speedups = state


def inference_dtype(x: torch.Tensor, module: nn.Module) -> Optional[torch.dtype]:
    """The dtype in which the speed-ups compute ``module``'s forward on ``x``, or None where
    its plain forward runs. They apply to a module whose ``cpu_speedups`` is on, in eval mode
    (dropout and drop path off), in CPU inference (no autograd: the chunks are written into
    preallocated buffers), not under a tracer or ``torch.compile`` (which should record the
    plain ops: inductor makes its own fusions, and the fused conv + GELU's stride-preserving
    output has no matching fake kernel), in fp32 for an fp32 ``x`` without autocast, in bf16
    under CPU autocast to bf16."""
    if (not module.cpu_speedups or torch.is_grad_enabled() or module.training
            or x.device.type != 'cpu' or x.dtype != torch.float32 or torch.jit.is_tracing()
            or torch.compiler.is_compiling()):
        return None
    if not torch.is_autocast_enabled('cpu'):
        return torch.float32
    return torch.bfloat16 if torch.get_autocast_dtype('cpu') == torch.bfloat16 else None


def images_per_chunk(elements_per_image: int, chunk_elements: int = CHUNK_ELEMENTS) -> int:
    """How many images whose widest intermediate has ``elements_per_image`` elements fit in
    one chunk (at least 1)."""
    return max(1, chunk_elements // max(1, elements_per_image))


@functools.lru_cache(maxsize=None)
def cpu_bf16() -> str:
    """What this CPU does with bf16, the one check for the package:

    * ``'native'``: bf16 instructions (avx512_bf16 or AMX): bf16 inference is faster than
      fp32;
    * ``'emulated'``: oneDNN has bf16 kernels (avx512bw/vl/dq or avx_ne_convert) but
      computes them in fp32: slower than fp32;
    * ``'none'``: no bf16 kernels (a plain AVX2 CPU): bf16 autocast fails in its first
      convolution.
    """
    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        return 'none'
    try:
        with open('/proc/cpuinfo') as f:
            flags = next((line for line in f if line.startswith('flags')), '').split()
    except OSError:
        flags = []
    return 'native' if 'avx512_bf16' in flags or 'amx_bf16' in flags else 'emulated'
