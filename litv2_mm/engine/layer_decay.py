"""Layer-wise learning-rate decay for detectors, segmentors and classifiers whose backbone
has ``get_layer_depth(param_name, prefix)`` (LITv2, and mmpretrain's Swin, ConvNeXt, ViT...).

mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` takes the depths from
``model.get_layer_depth``, which only its classifiers have; mmdet's and mmseg's layer-decay
constructors compute the depths themselves and know only ConvNeXt and BEiT. The constructor
here is mmpretrain's (its rules and its weight-decay options) with the depths taken from
``model.backbone.get_layer_depth(name, 'backbone.')``, so the same ``optim_wrapper`` works in
an mmdet, mmseg or mmpretrain config::

    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=1e-4, weight_decay=0.05),
        constructor='BackboneLayerDecayOptimWrapperConstructor',
        paramwise_cfg=dict(layer_decay_rate=0.9, norm_decay_mult=0., bias_decay_mult=0.,
                           flat_decay_mult=0.))

It is registered in mmengine's root ``OPTIM_WRAPPER_CONSTRUCTORS``, the parent of mmdet's,
mmseg's and mmpretrain's, so a config finds it under any ``default_scope``. mmpretrain is
imported when the first one is built, not when ``litv2_mm`` is.
"""
from typing import Any, Callable, Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS

# the paramwise_cfg fields mmpretrain's constructor reads; any other field would be ignored
PARAMWISE_FIELDS = ('layer_decay_rate', 'norm_decay_mult', 'bias_decay_mult', 'flat_decay_mult',
                    'custom_keys')


def backbone_layer_depth(model: nn.Module) -> Callable[[str], tuple[int, int]]:
    """``name -> (depth, num_layers)`` for every parameter name of ``model`` (an mmdet
    detector, mmseg segmentor or mmpretrain classifier): its backbone's
    ``get_layer_depth(name, 'backbone.')``. A parameter outside the backbone (neck, heads)
    gets the backbone's last depth, ``num_layers - 1``, that is the full learning rate.

    Raises:
        TypeError: ``model`` has no ``backbone``, or the backbone no ``get_layer_depth``.
    """
    backbone = getattr(model, 'backbone', None)
    if backbone is None:
        raise TypeError(f'BackboneLayerDecayOptimWrapperConstructor: the model '
                        f'({type(model).__name__}) has no `backbone`; for a model with its own '
                        "get_layer_depth use constructor='LearningRateDecayOptimWrapperConstructor'"
                        ' (mmpretrain)')
    get_layer_depth = getattr(backbone, 'get_layer_depth', None)
    if not callable(get_layer_depth):
        raise TypeError(f'BackboneLayerDecayOptimWrapperConstructor: model.backbone '
                        f'({type(backbone).__name__}) has no get_layer_depth(param_name, prefix): '
                        'use a backbone that defines it (LITv2 does), or drop '
                        '`optim_wrapper.constructor` and `paramwise_cfg.layer_decay_rate`')

    def depth(param_name: str) -> tuple[int, int]:
        return get_layer_depth(param_name, 'backbone.')

    return depth


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class BackboneLayerDecayOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """mmpretrain's ``LearningRateDecayOptimWrapperConstructor`` with the layer depths taken
    from ``model.backbone`` (:func:`backbone_layer_depth`).

    A parameter of depth ``d`` (of ``num_layers``) gets the learning rate
    ``lr * layer_decay_rate ** (num_layers - d - 1)`` (times a ``custom_keys`` ``lr_mult``
    if one matches its name: unlike mmpretrain's, this constructor applies it), so the
    neck and heads train at ``lr``. Weight decay follows mmpretrain's ``paramwise_cfg``
    fields: ``norm_decay_mult`` (normalization layers), ``bias_decay_mult`` (biases),
    ``flat_decay_mult`` (every 1-D parameter), ``custom_keys`` ``decay_mult`` (names
    containing the key). LITv2 has no position-embedding or relative-position tables, so it
    needs no ``custom_keys`` for them. Frozen parameters (``requires_grad=False``) are left
    out, as in mmpretrain.

    mmpretrain's rules (its ``add_params``) are imported when the first parameters are
    grouped, so that ``import litv2_mm`` does not import mmpretrain.

    Args:
        optim_wrapper_cfg (dict): the ``optim_wrapper`` config (``optimizer`` with ``lr``
            and ``weight_decay``).
        paramwise_cfg (dict): ``layer_decay_rate`` in (0, 1] and, optionally, the weight-decay
            fields above.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None) -> None:
        if not isinstance(paramwise_cfg, dict) or 'layer_decay_rate' not in paramwise_cfg:
            raise ValueError('BackboneLayerDecayOptimWrapperConstructor needs '
                             '`optim_wrapper.paramwise_cfg.layer_decay_rate` (in (0, 1]), got '
                             f'paramwise_cfg={paramwise_cfg!r}')
        rate = paramwise_cfg['layer_decay_rate']
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError('`optim_wrapper.paramwise_cfg.layer_decay_rate` must be a number in '
                             '(0, 1] (the lr factor from one depth to the one below), got '
                             f'{rate!r}')
        unknown = sorted(set(paramwise_cfg) - set(PARAMWISE_FIELDS))
        if unknown:
            raise ValueError(f'`optim_wrapper.paramwise_cfg` fields {unknown} are not read by '
                             f'BackboneLayerDecayOptimWrapperConstructor (it reads '
                             f'{list(PARAMWISE_FIELDS)}): remove them')
        optimizer = optim_wrapper_cfg.get('optimizer') or {}
        if 'lr' not in optimizer or 'weight_decay' not in optimizer:
            raise ValueError('BackboneLayerDecayOptimWrapperConstructor needs '
                             '`optim_wrapper.optimizer.lr` and `optim_wrapper.optimizer.'
                             f'weight_decay` (0 for none), got optimizer={optimizer!r}')
        super().__init__(optim_wrapper_cfg, paramwise_cfg)

    def add_params(self, params: list, module: nn.Module, prefix: str = '',
                   get_layer_depth: Optional[Callable] = None, **kwargs: Any) -> None:
        """mmpretrain's ``add_params`` with ``get_layer_depth`` from ``module.backbone`` (at
        the top level, ``prefix=''``); then a ``custom_keys`` ``lr_mult`` multiplies the
        learning rate of the parameters whose names contain the key (mmpretrain leaves it in
        the group unused).

        mmpretrain's method runs as a function of this constructor: it reads only what
        mmengine's ``DefaultOptimWrapperConstructor`` sets (``paramwise_cfg``, ``base_lr``,
        ``base_wd``) and recurses through ``self.add_params`` (this method)."""
        from mmpretrain.engine.optimizers import LearningRateDecayOptimWrapperConstructor
        if get_layer_depth is None:
            get_layer_depth = backbone_layer_depth(module)
        LearningRateDecayOptimWrapperConstructor.add_params(
            self, params, module, prefix=prefix, get_layer_depth=get_layer_depth, **kwargs)
        if prefix == '':
            for group in params:
                lr_mult = group.pop('lr_mult', None)
                if lr_mult is not None:
                    group['lr'] *= lr_mult
                    group['lr_scale'] *= lr_mult
