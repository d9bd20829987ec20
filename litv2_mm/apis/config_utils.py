"""Config changes shared by the tools (which only turn their flags into these)."""

from ..datasets.checks import leaf_datasets


def set_data_root(cfg, data_root):
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


def load_tool_config(config, launcher='none', data_root=None, cfg_options=None, work_dir=None):
    """The config that tools/train.py and tools/test.py run: the file ``config`` with
    ``launcher``, every dataset and evaluator rebased onto ``data_root`` (if given),
    ``cfg_options`` (dict) merged in, and the work dir: ``work_dir``, else the config's,
    else ``work_dirs/<config name>``."""
    import os.path as osp

    from .inference import load_config
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
