"""Load the authors' ImageNet / COCO / ADE20K weights, or our own, into a LITv2 backbone.

Every key that does not load is reported by name with the reason (missing, unexpected,
shape), so no weight is ever dropped silently.
"""
from collections import OrderedDict

from ..utils.checkpoint import (checkpoint_state_dict, load_checkpoint_file, mismatch_report,
                                state_dict_mismatches)


def extract_backbone_state_dict(ckpt, prefix=None):
    """Backbone weights from any checkpoint layout of
    :func:`~litv2_mm.utils.checkpoint_state_dict` (the authors' ImageNet files, mmdet /
    mmseg / mmpretrain / our runs, a bare state dict).

    Args:
        ckpt (dict): a loaded checkpoint.
        prefix (str | None): keep only keys starting with it and strip it (e.g.
            ``'backbone.'``); None picks ``'backbone.'`` when the file has such keys.

    Returns:
        (OrderedDict, list[str]): backbone state dict in LITv2's key names, and the keys
        left aside because they belong to another part of the model (necks, heads).
    """
    state, _ = checkpoint_state_dict(ckpt)
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    others = [k for k in state if not k.startswith(prefix)]
    return OrderedDict((k[len(prefix):], v) for k, v in state.items()
                       if k.startswith(prefix)), others


def load_backbone_state_dict(model, state, logger=None, source='checkpoint'):
    """Load ``state`` into ``model`` non-strictly and report every key that did not load
    (:func:`~litv2_mm.utils.mismatch_report`, all keys listed, as a warning).

    Returns:
        dict with lists ``missing``, ``unexpected`` and ``shape_mismatch`` (key, ckpt shape,
        model shape).
    """
    found = state_dict_mismatches(model.state_dict(), state)
    left_out = {k for k, _, _ in found['shape']} | set(found['unexpected'])
    loadable = OrderedDict((k, v) for k, v in state.items() if k not in left_out)
    model.load_state_dict(loadable, strict=False)
    if any(found.values()):
        (logger.warning if logger else print)(
            f'[LITv2] {mismatch_report(found, source)}\n(the {len(loadable)} tensors that fit '
            'are loaded; missing keys keep their initialisation)')
    elif logger is not None:
        logger.info(f'[LITv2] {source}: all {len(loadable)} backbone tensors loaded')
    return dict(missing=found['missing'], unexpected=found['unexpected'],
                shape_mismatch=found['shape'])


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
