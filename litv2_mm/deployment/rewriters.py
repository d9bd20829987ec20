"""The four mmdeploy rewrites LITv2 detectors and segmentors need on this stack.

Every deploy config in ``configs/deploy/`` imports this module (``custom_imports``), so
mmdeploy's own ``tools/deploy.py`` and ``tools/test.py`` get them as our
``tools/deployment/deploy.py`` does. Importing ``litv2_mm`` alone does not: they act only
inside mmdeploy's ``RewriterContext``, that is during an mmdeploy export.

- ``torch.onnx.export``: torch >= 2.9 exports with the dynamo exporter unless told
  ``dynamo=False``, and mmdeploy 1.3.1 does not say it. The dynamo exporter ignores every
  mmdeploy rewrite (they are TorchScript symbolic functions and patched Python functions),
  so mmdeploy's export call gets ``dynamo=False`` here.
- ``grid_sampler`` (DTM's deformable sampling): mmdeploy maps it, for every backend, to its
  custom operator ``mmdeploy::grid_sampler``, written for opset 11, before ONNX had the
  operator. From opset 16 on this emits ONNX's own ``GridSample`` instead, which onnxruntime
  and OpenVINO run without mmdeploy's operator library; below 16 mmdeploy's mapping stays.
- ``F.scaled_dot_product_attention`` (HiLo's Hi-Fi and Lo-Fi attention): mmdeploy replaces
  it, for every backend but TensorRT, with an explicit matmul + softmax that *divides* the
  logits by ``scale``, where PyTorch *multiplies* them by it (``scale`` is the factor,
  ``1 / sqrt(head_dim)`` by default): a model that passes ``scale`` (HiLo does, as the paper's
  ``qk_scale``) gets logits ``head_dim`` times too large, and the deployed detector finds
  other boxes. Here the call is exported as PyTorch's own operator (the TorchScript
  exporter's ``scaled_dot_product_attention`` symbolic, opset >= 14: matmul, softmax,
  matmul in the graph), with PyTorch's meaning of ``scale``.
- mmcv's ``roi_align`` (Mask R-CNN's RoI heads): mmdeploy's symbolic imports
  ``torch.onnx.symbolic_opset9._cast_Long``, which torch no longer has, so every two-stage
  export fails. From opset 16 on this emits ONNX's ``RoiAlign`` with
  ``coordinate_transformation_mode`` (``half_pixel`` for mmcv's ``aligned=True``) itself,
  as mmdeploy's does; below 16 mmdeploy's stays.
"""
from typing import TYPE_CHECKING, Any, Sequence

import torch
from mmdeploy.core import FUNCTION_REWRITER, SYMBOLIC_REWRITER
from mmdeploy.mmcv.ops.roi_align import roi_align_default as mmdeploy_roi_align
from mmdeploy.pytorch.symbolics.grid_sampler import grid_sampler as mmdeploy_grid_sampler
from mmdeploy.utils import get_ir_config
from torch.onnx import symbolic_opset16

if TYPE_CHECKING:
    from mmdeploy.core.rewriters.rewriter_utils import ContextCaller
    from torch.onnx._internal.torchscript_exporter.jit_utils import GraphContext

GRID_SAMPLE_OPSET = 16
"""The first ONNX opset with GridSample (and RoiAlign's coordinate_transformation_mode)."""
BACKENDS = ('onnxruntime', 'openvino')
"""The backends these rewrites act for (a backend-specific rewrite overrides mmdeploy's
default one)."""


@FUNCTION_REWRITER.register_rewriter('torch.onnx.export')
def export__torchscript(*args: Any, **kwargs: Any) -> Any:
    """``torch.onnx.export`` with the TorchScript exporter, which mmdeploy's rewrites act on."""
    ctx = FUNCTION_REWRITER.get_context()
    kwargs['dynamo'] = False
    return ctx.origin_func(*args, **kwargs)


def scaled_dot_product_attention__onnx(*args: Any, **kwargs: Any) -> torch.Tensor:
    """PyTorch's ``F.scaled_dot_product_attention``, unchanged (instead of mmdeploy's
    default rewrite, which inverts ``scale``)."""
    return FUNCTION_REWRITER.get_context().origin_func(*args, **kwargs)


def _opset(ctx: 'ContextCaller') -> int:
    """The export's ONNX opset; ``ctx``: the rewrite's context (mmdeploy finds a context by
    the name of the function that asks for it, so each rewrite asks itself)."""
    return get_ir_config(ctx.cfg).get('opset_version', 11)


def roi_align__onnx(g: 'GraphContext', input: torch._C.Value, rois: torch._C.Value,
                    output_size: Sequence[int], spatial_scale: float, sampling_ratio: int,
                    pool_mode: str, aligned: bool) -> torch._C.Value:
    """ONNX's RoiAlign (opset >= 16) of mmcv's ``roi_align``: ``rois`` (K, 5) rows are
    (batch index, x1, y1, x2, y2)."""
    if _opset(SYMBOLIC_REWRITER.get_context()) < GRID_SAMPLE_OPSET:
        return mmdeploy_roi_align(g, input, rois, output_size, spatial_scale, sampling_ratio,
                                  pool_mode, aligned)
    column = lambda *i: g.op('Constant', value_t=torch.tensor(i, dtype=torch.long))  # noqa: E731
    batch_indices = g.op('Cast', g.op('Squeeze', g.op('Gather', rois, column(0), axis_i=1),
                                      column(1)),
                         to_i=torch.onnx.TensorProtoDataType.INT64)
    boxes = g.op('Gather', rois, column(1, 2, 3, 4), axis_i=1)
    return g.op('RoiAlign', input, boxes, batch_indices, output_height_i=output_size[0],
                output_width_i=output_size[1], spatial_scale_f=spatial_scale,
                sampling_ratio_i=sampling_ratio, mode_s=pool_mode,
                coordinate_transformation_mode_s='half_pixel' if aligned
                else 'output_half_pixel')


def grid_sampler__onnx(g: 'GraphContext', input: torch._C.Value, grid: torch._C.Value,
                       interpolation_mode: torch._C.Value, padding_mode: torch._C.Value,
                       align_corners: torch._C.Value) -> torch._C.Value:
    """ONNX's GridSample for opset >= 16, else mmdeploy's custom operator."""
    opset = _opset(SYMBOLIC_REWRITER.get_context())
    symbolic = (symbolic_opset16.grid_sampler if opset >= GRID_SAMPLE_OPSET
                else mmdeploy_grid_sampler)
    return symbolic(g, input, grid, interpolation_mode, padding_mode, align_corners)


for _backend in BACKENDS:
    FUNCTION_REWRITER.register_rewriter('torch.nn.functional.scaled_dot_product_attention',
                                        backend=_backend)(scaled_dot_product_attention__onnx)
    SYMBOLIC_REWRITER.register_symbolic('grid_sampler', backend=_backend,
                                        is_pytorch=True)(grid_sampler__onnx)
    # mmcv's RoIAlignFunction, found through its apply method as mmdeploy finds it
    SYMBOLIC_REWRITER.register_symbolic('mmcv.ops.roi_align.__self__',
                                        backend=_backend)(roi_align__onnx)
