"""Load the authors' ImageNet / COCO / ADE20K weights, or our own, into a LITv2 backbone.

Every key that does not load is reported by name with the reason (missing, unexpected,
shape), so no weight is ever dropped silently.
"""
from collections import OrderedDict

import torch

from ..utils.checkpoint import load_checkpoint_file, state_dict_mismatches


def extract_backbone_state_dict(ckpt, prefix=None):
    """Backbone weights from any supported checkpoint layout.

    Args:
        ckpt (dict): a loaded checkpoint: ``{'model': ...}`` (authors' ImageNet files),
            ``{'state_dict': ...}`` (mmdet / mmseg / mmpretrain / our runs) or a bare state dict.
        prefix (str | None): keep only keys starting with it and strip it (e.g.
            ``'backbone.'``); None picks ``'backbone.'`` when the file has such keys.

    Returns:
        (OrderedDict, list[str]): backbone state dict in LITv2's key names, and the keys
        left aside because they belong to another part of the model (necks, heads).
    """
    for key in ('state_dict', 'model'):
        if key in ckpt and isinstance(ckpt[key], dict):
            ckpt = ckpt[key]
            break
    state = OrderedDict((k[len('module.'):] if k.startswith('module.') else k, v)
                        for k, v in ckpt.items() if isinstance(v, torch.Tensor))
    if prefix is None and any(k.startswith('backbone.') for k in state):
        prefix = 'backbone.'
    if prefix:
        others = [k for k in state if not k.startswith(prefix)]
        state = OrderedDict((k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    else:
        others = [k for k in state if k.startswith('head.')]
        state = OrderedDict((k, v) for k, v in state.items() if not k.startswith('head.'))
    # The classifier's final norm (``norm``) is the last stage's output norm here.
    if 'norm.weight' in state and 'norm3.weight' not in state:
        for name in ('weight', 'bias'):
            state[f'norm3.{name}'] = state.pop(f'norm.{name}')
    return state, others


def load_backbone_state_dict(model, state, logger=None, source='checkpoint'):
    """Load ``state`` into ``model`` non-strictly and report every key that did not load.

    Returns:
        dict with lists ``missing``, ``unexpected`` and ``shape_mismatch`` (key, ckpt shape,
        model shape).
    """
    found = state_dict_mismatches(model.state_dict(), state)
    left_out = {k for k, _, _ in found['shape']} | set(found['unexpected'])
    loadable = OrderedDict((k, v) for k, v in state.items() if k not in left_out)
    model.load_state_dict(loadable, strict=False)
    report = dict(missing=found['missing'], unexpected=found['unexpected'],
                  shape_mismatch=found['shape'])
    log = logger.warning if logger else print
    for k in report['missing']:
        log(f'[LITv2] {source}: missing key (not in checkpoint, keeps its init): {k}')
    for k in report['unexpected']:
        log(f'[LITv2] {source}: unexpected key (no such parameter, not loaded): {k}')
    for k, got, want in report['shape_mismatch']:
        log(f'[LITv2] {source}: shape mismatch for {k}: checkpoint {got} vs model {want} (not loaded)')
    if logger is not None and not any(report.values()):
        logger.info(f'[LITv2] {source}: all {len(loadable)} backbone tensors loaded')
    return report


def load_pretrained_backbone(model, init_cfg, logger=None):
    """Apply ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None, trusted=False)``."""
    unknown = set(init_cfg) - {'type', 'checkpoint', 'prefix', 'trusted', 'map_location'}
    if unknown:
        raise ValueError(f'LITv2 init_cfg: unknown keys {sorted(unknown)}')
    if 'checkpoint' not in init_cfg:
        raise ValueError("LITv2 init_cfg of type 'Pretrained' needs a 'checkpoint' path or URL")
    path = init_cfg['checkpoint']
    ckpt = load_checkpoint_file(path, map_location=init_cfg.get('map_location', 'cpu'),
                                trusted=init_cfg.get('trusted', False))
    state, others = extract_backbone_state_dict(ckpt, init_cfg.get('prefix'))
    if not state:
        raise ValueError(f'{path}: no backbone weights found (prefix={init_cfg.get("prefix")!r}); '
                         f'first keys: {list(ckpt)[:5]}')
    if others and logger is not None:
        logger.info(f'[LITv2] {path}: {len(others)} non-backbone tensors left to their own '
                    f'modules (e.g. {others[0]})')
    return load_backbone_state_dict(model, state, logger, source=path)
