"""Build the models that the analysis tools measure, from a short spec or a config file.

A spec is one of

* ``litv2_s`` | ``litv2_m`` | ``litv2_b``, optionally ``:fast`` (litv2_mm's model, the
  default) or ``:reference`` (the authors' formulation, ``litv2_mm.reference``):
  a bare LITv2 backbone (four outputs, output norms, no pretrained weights);
* ``swin_t``: mmdet's Swin-T backbone (embed 96, depths 2-2-6-2, window 7);
* ``resnet50``: mmdet's ResNet-50 backbone;
* a config path (mmdet / mmseg / mmpretrain), optionally ``:fast`` or ``:reference`` for its
  LITv2 backbone: the whole detector, segmentor or classifier.

Every model comes wrapped in :class:`TensorForward`, whose ``forward(images)`` runs the
part of the model that the FLOPs count and the benchmarks measure (see its docstring).
"""
import importlib
import os.path as osp
from dataclasses import dataclass
from typing import Optional, Union

import torch
import torch.nn as nn
from mmengine.config import Config

from ..apis import init_model
from ..config import config_scope, registry_scope

ARCH_SPECS = ('litv2_s', 'litv2_m', 'litv2_b', 'swin_t', 'resnet50')
IMPLS = ('fast', 'reference')
# Default input (H, W) and batch per model kind: the paper's settings (detection FLOPs at
# "1280 x 800" = W 1280, H 800; ADE20K at 512 x 512; ImageNet speed at batch 64, 224 x 224).
DEFAULT_SHAPES = dict(backbone=(224, 224), classifier=(224, 224), detector=(800, 1280),
                      segmentor=(512, 512))
DEFAULT_BATCHES = dict(backbone=64, classifier=64, detector=1, segmentor=1)
_SCOPE_KINDS = dict(mmdet='detector', mmseg='segmentor', mmpretrain='classifier')


@dataclass
class BuiltModel:
    """A model ready to measure: ``module(images)`` runs it; ``kind`` is one of
    'backbone', 'classifier', 'detector', 'segmentor'."""

    name: str
    kind: str
    module: nn.Module


class TensorForward(nn.Module):
    """``forward(images (B, 3, H, W))`` -> the raw outputs (tensors) of the measured path.

    * backbone: ``backbone(images)``;
    * classifier (mmpretrain): ``model(images, mode='tensor')`` = backbone, neck, head logits;
    * segmentor (mmseg): ``model._forward(images)`` = backbone, neck, decode head (no
      auxiliary head, no final resize to the image);
    * single-stage detector (mmdet): ``model._forward(images)`` = backbone, neck, head
      outputs (no box decoding, no NMS);
    * two-stage detector (mmdet): backbone, neck, RPN head outputs, then the RoI head on
      1000 fixed proposals (box branch on all, mask branch on the first 100), as mmdet 2.x's
      ``forward_dummy`` did for the published FLOPs (no proposal decoding, no NMS).
    """

    def __init__(self, model: nn.Module, kind: str) -> None:
        super().__init__()
        self.model = model
        self.kind = kind

    def forward(self, images: torch.Tensor) -> Union[torch.Tensor, tuple]:
        model = self.model
        if self.kind == 'backbone':
            return model(images)
        if self.kind == 'classifier':
            return model(images, mode='tensor')
        if self.kind == 'detector' and getattr(model, 'with_rpn', False):
            return self._two_stage(images)
        return model._forward(images)

    def _two_stage(self, images: torch.Tensor) -> tuple:
        from mmdet.structures import DetDataSample
        from mmengine.structures import InstanceData
        model = self.model
        x = model.extract_feat(images)
        rpn_outs = model.rpn_head(x)
        B, _, H, W = images.shape
        # Deterministic boxes spread over the image, independent of the trained weights.
        gen = torch.Generator().manual_seed(0)
        xy = torch.rand(1000, 2, generator=gen) * torch.tensor([W * 0.75, H * 0.75])
        wh = torch.rand(1000, 2, generator=gen) * torch.tensor([W * 0.25, H * 0.25]) + 1
        boxes = torch.cat((xy, xy + wh), dim=1).to(images)
        proposals = [InstanceData(bboxes=boxes) for _ in range(B)]
        samples = [DetDataSample(metainfo=dict(img_shape=(H, W), batch_input_shape=(H, W)))
                   for _ in range(B)]
        return rpn_outs + tuple(model.roi_head(x, proposals, samples))


def parse_spec(spec: str) -> tuple[str, Optional[str]]:
    """'name[:impl]' -> (name, impl or None), impl 'fast' | 'reference'. Raises ValueError
    naming the bad spec."""
    name, _, impl = spec.partition(':')
    if impl and impl not in IMPLS:
        raise ValueError(f'model spec {spec!r}: implementation must be one of {IMPLS}, '
                         f'got {impl!r}')
    if name not in ARCH_SPECS and not osp.isfile(name):
        raise ValueError(f'model spec {spec!r}: not one of {ARCH_SPECS} and not a config file')
    if impl and name in ARCH_SPECS and not name.startswith('litv2_'):
        raise ValueError(f'model spec {spec!r}: only LITv2 takes an implementation')
    return name, impl or None


def spec_kind(spec: str) -> str:
    """'backbone', 'classifier', 'detector' or 'segmentor' for a spec, without building it."""
    name, _ = parse_spec(spec)
    if name in ARCH_SPECS:
        return 'backbone'
    return _SCOPE_KINDS[config_scope(Config.fromfile(name))]


def preload(spec: str) -> None:
    """Import every library that building and running ``spec`` needs (so that a memory
    baseline taken afterwards leaves the libraries' own memory out)."""
    import mmcv.ops  # noqa: F401  (the reference's deformable conv)
    name, _ = parse_spec(spec)
    if name in ARCH_SPECS:
        importlib.import_module('mmdet.models')  # the baselines' modules (Swin-T, ResNet-50)
        return
    with registry_scope(Config.fromfile(name)):
        pass


def build_backbone(name: str) -> nn.Module:
    """One of :data:`ARCH_SPECS` as a bare backbone (random init)."""
    if name.startswith('litv2_'):
        return init_model(name[-1])
    from mmdet.models.backbones import ResNet, SwinTransformer
    if name == 'swin_t':
        return SwinTransformer(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24),
                               window_size=7, out_indices=(0, 1, 2, 3))
    if name == 'resnet50':
        return ResNet(depth=50, out_indices=(0, 1, 2, 3))
    raise ValueError(f'unknown architecture {name!r}; choose one of {ARCH_SPECS}')


def build_model(spec: str, cfg_options: Optional[dict] = None) -> BuiltModel:
    """Spec (see module docstring) -> :class:`BuiltModel` in eval mode, on the CPU.
    ``cfg_options`` (dict) is merged into a config."""
    from ..reference import reference_litv2
    name, impl = parse_spec(spec)
    if osp.isfile(name):
        model = init_model(name, cfg_options=cfg_options)
        kind = _SCOPE_KINDS[config_scope(model.cfg)]
        if impl == 'reference':
            if type(model.backbone).__name__ != 'LITv2':
                raise ValueError(f'{spec}: the backbone is {type(model.backbone).__name__}, '
                                 'not LITv2: there is no reference to build')
            model.backbone = reference_litv2(model.backbone)
    else:
        model, kind = build_backbone(name), 'backbone'
        if name.startswith('litv2_'):
            spec = f'{name}:{impl or "fast"}'
            if impl == 'reference':
                model = reference_litv2(model)
    return BuiltModel(spec, kind, TensorForward(model, kind).eval())


def count_parameters(module: nn.Module) -> tuple[int, int]:
    """(all parameters, trainable parameters) of ``module``."""
    params = list(module.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)
