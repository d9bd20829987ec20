"""The mmdeploy rewrites LITv2 detectors and segmentors need on this stack, and those that
make a deployed model compute what mmdet and mmseg compute.

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

Deployed = PyTorch (issue 30, point 4; docs/deployment.md):

- ``RPNHead.predict_by_feat``: mmdeploy runs one NMS over the proposals of all FPN levels
  together, with its deploy config's ``score_threshold`` (0.05) as an objectness threshold
  and no ``min_bbox_size`` filter. As mmdet's ``RPNHead`` here: per level the ``nms_pre``
  anchors of highest score, decoded, boxes not wider and higher than ``min_bbox_size``
  dropped, one NMS per level (``test_cfg.rpn.nms``), then the ``max_per_img`` best of all
  levels by score. Rows that are no proposal (fewer than ``max_per_img`` survive) come out
  with score -1 and a zero box, and the RoI head below ignores them.
- ``StandardRoIHead.predict_bbox`` and ``BBoxHead.predict_by_feat``: mmdeploy gives every
  class of a RoI the box regressed for its best class and keeps the padding rows of the RPN
  as RoIs. As mmdet's ``multiclass_nms``: each class with its own box, scores above
  ``score_thr``, one NMS per class, the ``max_per_img`` best of all classes.
- ``TwoStageDetector.forward`` (dynamic graphs): mmdeploy clips boxes to the graph's input,
  the batch padded to ``pad_size_divisor``, where mmdet clips to the image before the pad.
  Here the graph pads its input itself and clips to the size it was given; given unpadded
  images (``end2end.unpadded_inputs``) it clips as mmdet, given padded ones as mmdeploy.
- mmseg's ``PPM.forward`` (UperNet's and PSPNet's pyramid pooling): the exporter writes
  adaptive average pooling as AveragePool, which needs bin counts that divide the map (on a
  4 x 4 map it fails: ``stride should not be zero``). Here it is two matrix products with
  PyTorch's bins (:func:`litv2_mm.deployment.exportable.adaptive_avg_pool2d`), for any map
  size, static or dynamic.
"""
from typing import TYPE_CHECKING, Any, Optional, Sequence, Union

import torch
import torch.nn.functional as F
from mmdeploy.core import FUNCTION_REWRITER, SYMBOLIC_REWRITER
from mmdeploy.mmcv.ops.nms import ONNXNMSop
from mmdeploy.mmcv.ops.roi_align import roi_align_default as mmdeploy_roi_align
from mmdeploy.pytorch.symbolics.grid_sampler import grid_sampler as mmdeploy_grid_sampler
from mmdeploy.utils import get_ir_config, is_dynamic_shape
from torch.onnx import symbolic_opset16

from . import openvino_backend  # noqa: F401  (mmdeploy's openvino backend on OpenVINO >= 2024)
from .exportable import adaptive_avg_pool2d, kept_mask

if TYPE_CHECKING:
    from mmdeploy.core.rewriters.rewriter_utils import ContextCaller
    from mmengine.config import ConfigDict
    from torch.onnx._internal.torchscript_exporter.jit_utils import GraphContext

GRID_SAMPLE_OPSET = 16
"""The first ONNX opset with GridSample (and RoiAlign's coordinate_transformation_mode)."""
BACKENDS = ('onnxruntime', 'openvino')
"""The backends these rewrites act for (a backend-specific rewrite overrides mmdeploy's
default one)."""
NO_BOX = -1.
"""Score of a row of the RPN's or the RoI head's output that holds no box (suppressed,
filtered, or padding to ``max_per_img``): below every real score (probabilities, >= 0)."""


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


def _nms_kept(boxes: torch.Tensor, scores: torch.Tensor, max_per_group: int,
              iou_threshold: float, score_threshold: float) -> torch.Tensor:
    """Mask (B, C, N) of the boxes that ONNX's NonMaxSuppression keeps, one NMS per (batch
    row, class): ``boxes`` (B, N, 4), ``scores`` (B, C, N); a box needs a score above
    ``score_threshold``. During the trace mmcv's ``nms`` stands in (mmdeploy's op)."""
    selected = ONNXNMSop.apply(boxes, scores, max_per_group,
                               torch.tensor([iou_threshold], dtype=torch.float32),
                               torch.tensor([score_threshold], dtype=torch.float32))
    return kept_mask(selected, scores)


def _gather_rows(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """``x`` (B, N, D) at the (B, K) row indices ``index``: (B, K, D)."""
    return x.gather(1, index.unsqueeze(-1).expand(-1, -1, x.shape[-1]))


def rpn_head__predict_by_feat__per_level(
        self: Any, cls_scores: list[torch.Tensor], bbox_preds: list[torch.Tensor],
        score_factors: Optional[list[torch.Tensor]] = None,
        batch_img_metas: Optional[list[dict]] = None, cfg: Optional['ConfigDict'] = None,
        rescale: bool = False, with_nms: bool = True,
        **kwargs: Any) -> tuple[torch.Tensor, torch.Tensor]:
    """mmdet's ``RPNHead.predict_by_feat`` (``_predict_by_feat_single`` and
    ``_bbox_post_process``) for a batch, exportable: per level the ``nms_pre`` best
    anchors, decoded (clipped to the image), ``min_bbox_size`` filter, NMS per level; then
    the ``max_per_img`` best proposals of all levels by score, best first.

    Returns:
        (dets (B, max_per_img, 5), labels (B, max_per_img) zeros), as mmdeploy's RPN; a
        row that holds no proposal has score :data:`NO_BOX` and a zero box.
    """
    ctx = FUNCTION_REWRITER.get_context()
    cfg = self.test_cfg if cfg is None else cfg
    if not with_nms or cfg.nms.get('type', 'nms') != 'nms':
        raise NotImplementedError('the per-level RPN rewrite supports test_cfg.rpn.nms '
                                  f'of type nms only, not {cfg.nms}')
    dynamic = is_dynamic_shape(ctx.cfg)
    img_shape = batch_img_metas[0]['img_shape']
    batch_size = cls_scores[0].shape[0]
    nms_pre, max_per_img = cfg.get('nms_pre', -1), cfg.max_per_img
    min_bbox_size = cfg.get('min_bbox_size', -1)
    featmap_sizes = [score.shape[-2:] for score in cls_scores]
    mlvl_anchors = self.prior_generator.grid_priors(featmap_sizes,
                                                    device=cls_scores[0].device)
    level_boxes, level_scores = [], []
    for cls_score, bbox_pred, anchors in zip(cls_scores, bbox_preds, mlvl_anchors):
        cls_score = cls_score.permute(0, 2, 3, 1)
        if self.use_sigmoid_cls:
            scores = cls_score.reshape(batch_size, -1).sigmoid()
        else:  # foreground is class 0 (mmdet >= 2.5)
            scores = cls_score.reshape(batch_size, -1, 2).softmax(-1)[..., 0]
        bbox_pred = bbox_pred.permute(0, 2, 3, 1).reshape(batch_size, -1,
                                                          self.bbox_coder.encode_size)
        if not dynamic:
            anchors = anchors.data
        if nms_pre > 0:  # mmdeploy's topk rewrite takes min(nms_pre, anchors of the level)
            scores, index = scores.topk(nms_pre)
            bbox_pred = _gather_rows(bbox_pred, index)
            anchors = anchors[index]
        else:
            anchors = anchors.unsqueeze(0).expand_as(bbox_pred)
        boxes = self.bbox_coder.decode(anchors, bbox_pred, max_shape=img_shape)
        if min_bbox_size >= 0:
            wide = ((boxes[..., 2] - boxes[..., 0] > min_bbox_size)
                    & (boxes[..., 3] - boxes[..., 1] > min_bbox_size))
            scores = torch.where(wide, scores, scores.new_tensor(NO_BOX))
        kept = _nms_kept(boxes, scores.unsqueeze(1), max_per_img, cfg.nms.iou_threshold,
                         NO_BOX / 2)[:, 0]
        level_boxes.append(boxes)
        level_scores.append(torch.where(kept, scores, scores.new_tensor(NO_BOX)))
    scores, index = torch.cat(level_scores, 1).topk(max_per_img)
    boxes = _gather_rows(torch.cat(level_boxes, 1), index)
    is_box = scores > NO_BOX
    boxes = torch.where(is_box.unsqueeze(-1), boxes, boxes.new_zeros(()))
    dets = torch.cat([boxes, scores.unsqueeze(-1)], -1)
    return dets, torch.zeros_like(index)


def rcnn_detections(bbox_head: Any, rois: torch.Tensor, cls_scores: torch.Tensor,
                    bbox_preds: Optional[torch.Tensor],
                    img_shape: Union[Sequence[int], torch.Tensor], cfg: 'ConfigDict',
                    is_roi: Optional[torch.Tensor] = None) -> tuple[torch.Tensor, torch.Tensor]:
    """mmdet's ``BBoxHead.predict_by_feat`` with its ``multiclass_nms``, for a batch,
    exportable: class probabilities, each class's own regressed box (clipped to the image),
    scores above ``score_thr``, one NMS per class, the ``max_per_img`` best of all classes.

    Args:
        rois: (B, N, 5) rows (batch index, x1, y1, x2, y2).
        cls_scores: (B, N, num_classes + 1) logits; bbox_preds: (B, N, num_classes * 4) or
            (B, N, 4) deltas, or None.
        is_roi: (B, N) mask of the rows that are RoIs (the others give no detection).

    Returns:
        (dets (B, K, 5), labels (B, K)); rows without a detection have score 0 (mmdeploy's
        wrapper drops them).
    """
    if bbox_head.custom_cls_channels:
        scores = bbox_head.loss_cls.get_activation(cls_scores)
    else:
        scores = F.softmax(cls_scores, dim=-1)
    num_classes = bbox_head.num_classes
    scores = scores[..., :num_classes]
    if bbox_preds is not None:
        bboxes = bbox_head.bbox_coder.decode(rois[..., 1:], bbox_preds, max_shape=img_shape)
    else:
        bboxes = rois[..., 1:]
        if img_shape is not None:
            max_xy = torch.as_tensor(img_shape[:2]).to(bboxes).flip(-1).repeat(2)
            bboxes = torch.min(torch.max(bboxes, bboxes.new_zeros(())), max_xy)
    # (B, N, classes, 4), a class-agnostic box for every class
    bboxes = bboxes.reshape(scores.shape[0], scores.shape[1], -1, 4)
    bboxes = bboxes.expand(-1, -1, num_classes, -1)
    if is_roi is not None:
        scores = torch.where(is_roi.unsqueeze(-1), scores, scores.new_tensor(NO_BOX))
    # NMS per (image, class): the class goes into ONNX NMS's batch axis, with its boxes
    num_rois = scores.shape[1]
    class_boxes = bboxes.transpose(1, 2).reshape(-1, num_rois, 4)
    class_scores = scores.transpose(1, 2)  # (B, classes, N)
    kept = _nms_kept(class_boxes, class_scores.reshape(-1, 1, num_rois), cfg.max_per_img,
                     cfg.nms.iou_threshold, cfg.score_thr)
    ranked = torch.where(kept.reshape(class_scores.shape), class_scores,
                         class_scores.new_tensor(NO_BOX)).flatten(1)
    top, index = ranked.topk(cfg.max_per_img)
    boxes = _gather_rows(bboxes.transpose(1, 2).flatten(1, 2), index)
    labels = torch.div(index, num_rois, rounding_mode='floor')
    found = top > NO_BOX
    dets = torch.cat([torch.where(found.unsqueeze(-1), boxes, boxes.new_zeros(())),
                      torch.where(found, top, top.new_zeros(())).unsqueeze(-1)], -1)
    return dets, torch.where(found, labels, labels.new_zeros(()))


def bbox_head__predict_by_feat(self: Any, rois: torch.Tensor, cls_scores: torch.Tensor,
                               bbox_preds: Optional[torch.Tensor], batch_img_metas: list[dict],
                               rcnn_test_cfg: Optional['ConfigDict'] = None,
                               rescale: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """mmdet's ``BBoxHead.predict_by_feat``: :func:`rcnn_detections` (every row a RoI)."""
    if rcnn_test_cfg is None or rcnn_test_cfg.nms.get('type', 'nms') != 'nms':
        raise NotImplementedError('the RoI head rewrite needs test_cfg.rcnn with nms of '
                                  f'type nms, not {rcnn_test_cfg}')
    return rcnn_detections(self, rois, cls_scores, bbox_preds,
                           batch_img_metas[0]['img_shape'], rcnn_test_cfg)


def standard_roi_head__predict_bbox(self: Any, x: tuple[torch.Tensor, ...],
                                    batch_img_metas: list[dict],
                                    rpn_results_list: Sequence[torch.Tensor],
                                    rcnn_test_cfg: 'ConfigDict',
                                    rescale: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """mmdeploy's ``StandardRoIHead.predict_bbox`` (the RoIs of a batch in one tensor), with
    the rows of the RPN's output that hold no proposal (score :data:`NO_BOX`, from
    :func:`rpn_head__predict_by_feat__per_level`) giving no detection."""
    proposals = rpn_results_list[0]
    is_roi = proposals[..., 4] > NO_BOX
    batch_size, num_rois = proposals.shape[0], proposals.shape[1]
    batch_index = torch.arange(batch_size, device=proposals.device).to(proposals).view(
        -1, 1, 1) + proposals.new_zeros(proposals.shape[:2]).unsqueeze(-1)
    rois = torch.cat([batch_index, proposals[..., :4]], dim=-1)
    bbox_results = self._bbox_forward(x, rois.view(-1, 5))
    cls_scores = bbox_results['cls_score'].reshape(batch_size, num_rois, -1)
    bbox_preds = bbox_results['bbox_pred']
    if bbox_preds is not None:
        bbox_preds = bbox_preds.reshape(batch_size, num_rois, -1)
    if rcnn_test_cfg.nms.get('type', 'nms') != 'nms':
        raise NotImplementedError(f'the RoI head rewrite needs nms of type nms, not '
                                  f'{rcnn_test_cfg.nms}')
    return rcnn_detections(self.bbox_head, rois, cls_scores, bbox_preds,
                           batch_img_metas[0]['img_shape'], rcnn_test_cfg, is_roi)


def two_stage_detector__forward(self: Any, batch_inputs: torch.Tensor,
                                data_samples: Optional[list] = None, mode: str = 'tensor',
                                **kwargs: Any) -> tuple[torch.Tensor, ...]:
    """mmdeploy's ``TwoStageDetector.forward`` (the image size as a tensor in the graph, then
    the RPN and the RoI heads) with, in a dynamic graph, the input padded to a multiple of
    the data preprocessor's ``pad_size_divisor`` inside the graph, and the size before that
    pad as the image size that boxes are clipped to. Given the batch its data preprocessor
    padded already (mmdeploy's tools), the pad is a no-op and the image size the padded one,
    as mmdeploy's; given it unpadded (:func:`litv2_mm.deployment.end2end.unpadded_inputs`:
    ``tools/deployment/deploy.py``), the features are those of the padded batch and the boxes
    are clipped to the resized image, as mmdet clips them."""
    dynamic = is_dynamic_shape(FUNCTION_REWRITER.get_context().cfg)
    img_shape = torch._shape_as_tensor(batch_inputs)[2:]
    if not dynamic:
        img_shape = [int(size) for size in img_shape]
    divisor = getattr(self.data_preprocessor, 'pad_size_divisor', 1)
    if dynamic and divisor > 1:
        height, width = batch_inputs.shape[-2:]
        batch_inputs = F.pad(batch_inputs, (0, (-width) % divisor, 0, (-height) % divisor),
                             value=float(getattr(self.data_preprocessor, 'pad_value', 0)))
    for data_sample in data_samples:  # not set_metainfo: its deepcopy breaks the trace
        data_sample.set_field(name='img_shape', value=img_shape, field_type='metainfo')
    x = self.extract_feat(batch_inputs)
    if data_samples[0].get('proposals', None) is None:
        rpn_results_list = self.rpn_head.predict(x, data_samples, rescale=False)
    else:
        rpn_results_list = [data_sample.proposals for data_sample in data_samples]
    return self.roi_head.predict(x, rpn_results_list, data_samples, rescale=False)


def ppm__forward(self: Any, x: torch.Tensor) -> list[torch.Tensor]:
    """mmseg's ``PPM.forward`` with each branch's ``AdaptiveAvgPool2d`` as
    :func:`litv2_mm.deployment.exportable.adaptive_avg_pool2d` (the rest of the branch, a
    ConvModule, unchanged), each output resized to the map's size as mmseg does."""
    from mmseg.models.utils import resize
    outs = []
    for branch in self:
        pool, *rest = branch
        out = adaptive_avg_pool2d(x, pool.output_size)
        for module in rest:
            out = module(out)
        outs.append(resize(out, size=x.size()[2:], mode='bilinear',
                           align_corners=self.align_corners))
    return outs


for _backend in BACKENDS:
    FUNCTION_REWRITER.register_rewriter('torch.nn.functional.scaled_dot_product_attention',
                                        backend=_backend)(scaled_dot_product_attention__onnx)
    SYMBOLIC_REWRITER.register_symbolic('grid_sampler', backend=_backend,
                                        is_pytorch=True)(grid_sampler__onnx)
    # mmcv's RoIAlignFunction, found through its apply method as mmdeploy finds it
    SYMBOLIC_REWRITER.register_symbolic('mmcv.ops.roi_align.__self__',
                                        backend=_backend)(roi_align__onnx)
    FUNCTION_REWRITER.register_rewriter(
        'mmdet.models.dense_heads.rpn_head.RPNHead.predict_by_feat',
        backend=_backend)(rpn_head__predict_by_feat__per_level)
    FUNCTION_REWRITER.register_rewriter(
        'mmdet.models.roi_heads.standard_roi_head.StandardRoIHead.predict_bbox',
        backend=_backend)(standard_roi_head__predict_bbox)
    FUNCTION_REWRITER.register_rewriter(
        'mmdet.models.roi_heads.bbox_heads.bbox_head.BBoxHead.predict_by_feat',
        backend=_backend)(bbox_head__predict_by_feat)
    FUNCTION_REWRITER.register_rewriter(
        'mmdet.models.detectors.two_stage.TwoStageDetector.forward',
        backend=_backend)(two_stage_detector__forward)
    FUNCTION_REWRITER.register_rewriter('mmseg.models.decode_heads.psp_head.PPM.forward',
                                        backend=_backend)(ppm__forward)
