"""One builder for every tool, the analysis and deployment code and the tests: a model from a
config file (or a LITv2 arch), optionally with a checkpoint, in the OpenMMLab sense of
``apis.init_detector`` / ``init_model``."""
import copy
import os.path as osp
from typing import Optional, Union

import torch.nn as nn
from mmengine.config import Config

from ..checkpoint import load_checkpoint_file
from ..config import load_config, registry_scope


def _is_arch(config: Union[str, dict, Config]) -> bool:
    """A LITv2 arch: 'small' | 'medium' | 'base' (or 's' | 'm' | 'b'), an arch dict, or a
    backbone config dict with a ``type``."""
    return (isinstance(config, dict) and not isinstance(config, Config)) or (
        isinstance(config, str) and not config.endswith('.py') and not osp.exists(config))


def init_model(config: Union[str, dict, Config], checkpoint: Optional[str] = None,
               cfg_options: Optional[dict] = None, device: str = 'cpu', trusted: bool = False,
               pretrained: bool = False) -> nn.Module:
    """Build a model in eval mode.

    Args:
        config (str | Config | dict): a config file or Config (its whole ``model``:
            detector, segmentor or classifier, built in the config's ``default_scope``), or
            a LITv2 backbone: an arch name ('small', ...), an arch dict or a backbone config
            dict (``dict(type='LITv2', ...)``).
        checkpoint (str | None): weights to load. For a config, a checkpoint of that model
            (``state_dict``), loaded strictly; for a backbone, any layout LITv2's
            ``init_cfg`` reads (the authors' files, mmdet / mmseg / mmpretrain checkpoints).
        cfg_options (dict | None): overrides merged into the config.
        device (str): where the model goes.
        trusted (bool): allow pickled objects in ``checkpoint`` (only for files you trust).
        pretrained (bool): keep the config's backbone ``init_cfg`` / ``pretrained`` (which
            may download); by default they are dropped.

    Returns:
        nn.Module: the model, initialised (``init_weights``), in eval mode, on ``device``.
    """
    from mmengine.registry import MODELS
    if _is_arch(config):
        if cfg_options:
            raise ValueError('cfg_options apply to a config file, not to a backbone arch')
        backbone = dict(config) if isinstance(config, dict) and 'type' in config else dict(
            type='LITv2', arch=config)
        backbone['init_cfg'] = (dict(type='Pretrained', checkpoint=str(checkpoint),
                                     trusted=trusted) if checkpoint else None)
        model = MODELS.build(backbone)
        model.init_weights()
        return model.to(device).eval()
    cfg = load_config(config, cfg_options)
    model_cfg = copy.deepcopy(cfg.model)
    if not pretrained:
        model_cfg.pop('pretrained', None)
        if 'backbone' in model_cfg:
            model_cfg.backbone.init_cfg = None
    with registry_scope(cfg):
        model = MODELS.build(model_cfg)
    model.init_weights()
    if checkpoint:
        ckpt = load_checkpoint_file(checkpoint, trusted=trusted)
        model.load_state_dict(ckpt.get('state_dict', ckpt), strict=True)
    model.cfg = cfg  # as mmdet's init_detector does
    return model.to(device).eval()
