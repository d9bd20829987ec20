"""Configs: loading one (with ``--cfg-options``), the OpenMMLab library it belongs to and the
registry scope it builds in, and the changes the tools make to it (which only turn their
flags into these)."""
import copy
import importlib
import os.path as osp
from contextlib import contextmanager
from typing import Iterator, Optional, Union

from mmengine.config import Config

from ..data_checks.dataset import leaf_datasets

SCOPES = ('mmdet', 'mmseg', 'mmpretrain')
"""The libraries a LITv2 config can belong to (its ``default_scope``)."""


def load_config(config: Union[str, Config], cfg_options: Optional[dict] = None) -> Config:
    """A :class:`mmengine.Config` from a path (or a Config, copied) with ``cfg_options``
    (dict, ``--cfg-options`` style keys such as ``'model.backbone.alpha'``) merged in."""
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, str):
        if not osp.isfile(config):
            raise FileNotFoundError(f'config file not found: {config}')
        cfg = Config.fromfile(config)
    else:
        raise TypeError(f'config must be a path or an mmengine Config, got {type(config).__name__}')
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    return cfg


def config_scope(cfg: Config) -> str:
    """'mmdet' | 'mmseg' | 'mmpretrain': the config's ``default_scope`` (checked)."""
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise ValueError(f'{cfg.filename}: default_scope {scope!r} is not one of {SCOPES}')
    return scope


@contextmanager
def registry_scope(cfg: Config) -> Iterator[str]:
    """Inside the block, mmengine's registries build the config's models, datasets and
    transforms from its library (:func:`config_scope`, yielded): every module of the library
    registered (its own ``register_all_modules``) and the default scope set, restored after."""
    from mmengine.registry import DefaultScope
    scope = config_scope(cfg)
    importlib.import_module(f'{scope}.utils').register_all_modules(init_default_scope=False)
    with DefaultScope.overwrite_default_scope(scope):
        yield scope


def set_data_root(cfg: Config, data_root: str) -> Config:
    """Point every dataloader and evaluator of ``cfg`` at ``data_root`` (in place).

    Dataset ``data_root`` fields are replaced; evaluator paths (``ann_file``) that started
    with a dataset's old root are rebased onto the new one. Returns ``cfg``.
    """
    data_root = data_root if data_root.endswith('/') else data_root + '/'
    old_roots = set()
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not loader:
            continue
        for ds in leaf_datasets(loader.get('dataset')):
            if ds.get('data_root') is not None:
                old_roots.add(ds['data_root'])
            ds['data_root'] = data_root
    for key in ('val_evaluator', 'test_evaluator'):
        evaluators = cfg.get(key)
        if not evaluators:
            continue
        for ev in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
            ann = ev.get('ann_file')
            if not ann:
                continue
            for old in sorted(old_roots, key=len, reverse=True):
                if ann.startswith(old):
                    ev['ann_file'] = data_root + ann[len(old):].lstrip('/')
                    break
    cfg['data_root'] = data_root
    return cfg


def load_tool_config(config: str, launcher: str = 'none', data_root: Optional[str] = None,
                     cfg_options: Optional[dict] = None, work_dir: Optional[str] = None) -> Config:
    """The config that tools/train.py and tools/test.py run: the file ``config`` with
    ``launcher``, every dataset and evaluator rebased onto ``data_root`` (if given),
    ``cfg_options`` (dict) merged in, and the work dir: ``work_dir``, else the config's,
    else ``work_dirs/<config name>``."""
    cfg = load_config(config)
    cfg.launcher = launcher
    if data_root:
        set_data_root(cfg, data_root)
    if cfg_options:
        cfg.merge_from_dict(cfg_options)
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(config))[0])
    return cfg


def set_hook_args(cfg: Config, hook_type: str, **args: object) -> Config:
    """Set ``args`` on every hook of type ``hook_type`` in ``cfg.custom_hooks`` (in place; the
    way ``--allow-partial-load`` reaches the ``CheckpointFitHook``). Returns ``cfg``.

    Raises:
        KeyError: the config declares no such hook (naming the hooks it declares).
    """
    hooks = [hook for hook in cfg.get('custom_hooks') or [] if hook.get('type') == hook_type]
    if not hooks:
        declared = [hook.get('type') for hook in cfg.get('custom_hooks') or []]
        raise KeyError(f'{cfg.filename}: no {hook_type} in custom_hooks (declared: {declared}); '
                       "inherit configs/_base_/litv2_runtime.py")
    for hook in hooks:
        hook.update(args)
    return cfg
