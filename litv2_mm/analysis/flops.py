"""FLOPs (multiply-adds) of LITv2 models, counted two ways.

* **Authors' count** (:func:`authors_count`): how the LITv2 authors counted their
  detection and segmentation FLOPs, i.e. mmcv 1.x's module-level ``get_flops`` (forward
  hooks on modules of exactly these types: convolutions and transposed convolutions with
  their bias, linear layers without bias, ReLU-family activations, pooling, BatchNorm /
  GroupNorm / InstanceNorm / LayerNorm at 1 per element, 2 with an affine transform,
  ``nn.Upsample``; GELU, functional ops and attention matrix products are not seen), with
  LITv2's own modules seen as the authors' modules were: DTM's deformable conv is not
  counted at all (the authors' deformable-conv module is not in mmcv's table; only its
  offset conv, a plain ``nn.Conv2d``, is), HiLo's s x s average pooling is (an
  ``nn.AvgPool2d`` module in the authors' code), **plus** the attention matrix products of
  every HiLo layer (stages 3 and 4) added by formula (:func:`hilo_attention_products`).
  This reproduces the published figures to 0.02% (RetinaNet LITv2-S at 1280 x 800: 242.40G
  vs 242.39G; Semantic FPN LITv2-S at 512 x 512: 41.28G vs 41.29G); counting the
  deformable conv's own 2x2 conv too would add 3.5G and 0.9G.
* **Complete count** (:func:`complete_count`): every multiply-add of the traced forward, by
  mmengine's ``FlopAnalyzer`` (fvcore rules: conv / linear / matmul without bias, norms,
  upsampling, ``grid_sample`` at 4 per output value) with handlers added for what it misses:
  ``scaled_dot_product_attention`` (both products), average / max pooling (1 per input
  value) and mmcv's deformable conv (conv plus 4 per bilinear sample). Element-wise ops
  (activations, softmax, additions) are not counted; the ops skipped are reported.

Counts are per image (a batch is divided by its size).
"""
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional, Union

import torch
import torch.nn as nn
from mmcv.cnn.bricks import wrappers
from torch.utils.hooks import RemovableHandle

from ..models import HiLoAttention
from ..models.cpu_inference import cpu_speedups
from ..models.hilo import hilo_flops
from .model_specs import TensorForward

if TYPE_CHECKING:
    from ..reference import ReferenceHiLo


def hilo_attention_products(attn: Union[HiLoAttention, 'ReferenceHiLo'], H: int,
                            W: int) -> int:
    """Multiply-adds of the two attention matrix products (q k^T and attn v) of the HiLo layer
    ``attn`` on an H x W map, per image, as the authors add them to the module-level count."""
    return hilo_flops(attn.dim, attn.hifi_dim, attn.lofi_dim, attn.window_size, H, W)[1]


def _prod(shape: Iterable[int]) -> int:
    return math.prod(int(d) for d in shape)


def _conv_count(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Conv (weight (C_out, C_in / g, *k)) + bias per output position."""
    positions = output.shape[0] * _prod(output.shape[2:])
    bias = output.shape[1] * positions if getattr(m, 'bias', None) is not None else 0
    return _prod(m.weight.shape) * positions + bias


def _deconv_count(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    """Transposed conv: kernel work per *input* position, bias per output position."""
    x = inputs[0]
    work = _prod(m.weight.shape) * x.shape[0] * _prod(x.shape[2:])
    bias = output.shape[1] * output.shape[0] * _prod(output.shape[2:]) if m.bias is not None else 0
    return work + bias


def _norm_count(m: nn.Module, inputs: tuple, output: torch.Tensor) -> int:
    affine = getattr(m, 'affine', False) or getattr(m, 'elementwise_affine', False)
    return inputs[0].numel() * (2 if affine else 1)


def _hilo_count(m: HiLoAttention, inputs: tuple, output: torch.Tensor) -> tuple[int, int]:
    """(module-level count, attention products) of a HiLo layer: by its formula, the linear
    layers without bias as mmcv 1.x saw them in the authors' layer, plus the average pooling
    (the authors' ``nn.AvgPool2d``, over the padded map's values); and the products."""
    x, H, W = inputs
    B = x.shape[0]
    s = m.window_size
    pool = B * s * math.ceil(H / s) * s * math.ceil(W / s) * m.dim if s > 1 and m.lofi_heads else 0
    projections, products = hilo_flops(m.dim, m.hifi_dim, m.lofi_dim, s, H, W)
    return pool + B * projections, B * products


_ACTS = (nn.ReLU, nn.PReLU, nn.ELU, nn.LeakyReLU, nn.ReLU6)
_POOLS = (nn.MaxPool1d, nn.AvgPool1d, nn.AvgPool2d, nn.MaxPool2d, wrappers.MaxPool2d,
          nn.MaxPool3d, wrappers.MaxPool3d, nn.AvgPool3d, nn.AdaptiveMaxPool1d,
          nn.AdaptiveAvgPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveAvgPool2d,
          nn.AdaptiveMaxPool3d, nn.AdaptiveAvgPool3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.InstanceNorm1d,
          nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm)
# mmcv 1.x's table, matched on the exact type (subclasses such as SyncBatchNorm or mmseg's
# Upsample are not counted, as in mmcv 1.x).
MMCV1_COUNTERS = {
    **dict.fromkeys((nn.Conv1d, nn.Conv2d, wrappers.Conv2d, nn.Conv3d, wrappers.Conv3d),
                    _conv_count),
    **dict.fromkeys((nn.ConvTranspose2d, wrappers.ConvTranspose2d, nn.ConvTranspose3d,
                     wrappers.ConvTranspose3d), _deconv_count),
    **dict.fromkeys(_ACTS, lambda m, i, o: o.numel()),
    **dict.fromkeys(_POOLS, lambda m, i, o: i[0].numel()),
    **dict.fromkeys(_NORMS, _norm_count),
    **dict.fromkeys((nn.Linear, wrappers.Linear), lambda m, i, o: i[0].numel() * o.shape[-1]),
    nn.Upsample: lambda m, i, o: o.numel(),
}


@dataclass
class FlopCount:
    """Per-image multiply-adds: ``total``, split by top-level part (backbone, neck, ...)
    in ``parts``; ``attention`` = the attention products added by formula (authors' count);
    ``skipped`` = ops run but not counted (complete count)."""

    total: int
    parts: dict
    attention: int = 0
    skipped: Counter = field(default_factory=Counter)


def _part_name(name: str) -> str:
    """'model.backbone.layers.0...' -> 'backbone': the top-level part of the model that a
    :class:`TensorForward` wraps."""
    parts = name.split('.')
    return parts[1] if parts[0] == 'model' and len(parts) > 1 else parts[0]


def authors_count(model: nn.Module, images: torch.Tensor) -> FlopCount:
    """The authors' count (see module docstring) of ``model(images)``; images (B, 3, H, W).

    A HiLo layer is counted by its formula (it runs Hi-Fi q/k/v and Lo-Fi q as one GEMM,
    which no module hook sees), its sub-modules not at all. The count runs with LITv2's CPU
    inference speed-ups switched off (``cpu_inference.cpu_speedups(False)``): the plain
    path's layers are modules, which the speed-ups call as functions.
    """
    hilo_layers = tuple(n + '.' for n, m in model.named_modules() if isinstance(m, HiLoAttention))
    counts = defaultdict(int)
    attention = defaultdict(int)

    def make_hook(name: str, module: nn.Module) -> Optional[RemovableHandle]:
        if isinstance(module, HiLoAttention):
            def hook(m: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
                module_level, products = _hilo_count(m, inputs, output)
                counts[name] += module_level
                attention[name] += products
        elif name.startswith(hilo_layers):
            return None
        elif type(module) in MMCV1_COUNTERS:
            counter = MMCV1_COUNTERS[type(module)]

            def hook(m: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
                counts[name] += counter(m, inputs, output)
        else:
            return None
        return module.register_forward_hook(hook)

    handles = [make_hook(n, m) for n, m in model.named_modules()]
    try:
        with torch.no_grad(), cpu_speedups(False, model):
            model(images)
    finally:
        for h in handles:
            if h is not None:
                h.remove()
    B = images.shape[0]
    parts = defaultdict(int)
    for name, value in list(counts.items()) + list(attention.items()):
        parts[_part_name(name)] += value
    total = sum(counts.values()) + sum(attention.values())
    return FlopCount(total // B, {k: v // B for k, v in parts.items()},
                     attention=sum(attention.values()) // B)


def _shape(value: torch._C.Value) -> list[int]:
    return value.type().sizes()


def _sdpa_count(inputs: list[torch._C.Value], outputs: list[torch._C.Value]) -> int:
    """q (..., L, d), k (..., S, d), v (..., S, dv): L*S*d + L*S*dv per batch-head."""
    q, k, v = (_shape(x) for x in inputs[:3])
    return _prod(q[:-1]) * k[-2] * (q[-1] + v[-1])


def _pool_count(inputs: list[torch._C.Value], outputs: list[torch._C.Value]) -> int:
    return _prod(_shape(inputs[0]))


def _mmcv_deform_conv_count(inputs: list[torch._C.Value],
                            outputs: list[torch._C.Value]) -> int:
    """mmcv ``deform_conv2d(input, offset, weight, ...)``: conv + 4 per bilinear sample."""
    x, w, out = _shape(inputs[0]), _shape(inputs[2]), _shape(outputs[0])
    positions = out[0] * _prod(out[2:])
    samples = positions * x[1] * _prod(w[2:])
    return _prod(w) * positions + 4 * samples


EXTRA_OP_HANDLES = {
    'aten::scaled_dot_product_attention': _sdpa_count,
    'aten::avg_pool2d': _pool_count,
    'aten::max_pool2d': _pool_count,
    'prim::PythonOp.DeformConv2dFunction': _mmcv_deform_conv_count,
}


def complete_count(model: nn.Module, images: torch.Tensor) -> FlopCount:
    """The complete count (see module docstring) of ``model(images)``; images (B, 3, H, W)."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, (images, ))
    analyzer.set_op_handle(**EXTRA_OP_HANDLES)
    analyzer.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    analyzer.tracer_warnings('none')
    with torch.no_grad():
        by_module = analyzer.by_module()
        skipped = analyzer.unsupported_ops()
    B = images.shape[0]
    depth = 1 if isinstance(model, TensorForward) else 0
    parts = {_part_name(n): int(v) // B for n, v in by_module.items()
             if n and n.count('.') == depth}
    return FlopCount(int(analyzer.total()) // B, parts, skipped=Counter(skipped))
