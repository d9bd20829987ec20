"""Early, named errors for broken data: annotation files that are missing or do not parse,
image folders that do not exist, and label maps whose size differs from their image."""
import json
import os.path as osp

from mmcv.transforms import BaseTransform
from mmengine.registry import TRANSFORMS

from ..apis.config_utils import _datasets


def _loaders(cfg):
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if loader:
            yield key, loader


def check_annotation_files(cfg):
    """Raise FileNotFoundError / ValueError naming the file for every dataset of ``cfg``
    whose annotation file is missing or is JSON that does not parse, or whose image folder
    does not exist."""
    for key, loader in _loaders(cfg):
        for ds in _datasets(loader.get('dataset')):
            root = ds.get('data_root') or ''
            ann = ds.get('ann_file')
            if ann:
                path = osp.join(root, ann)
                if not osp.isfile(path):
                    raise FileNotFoundError(f'{key}: annotation file not found: {path}')
                if path.endswith('.json'):
                    try:
                        with open(path) as f:
                            json.load(f)
                    except (json.JSONDecodeError, UnicodeDecodeError) as e:
                        raise ValueError(f'{key}: annotation file {path} does not parse: {e}') \
                            from e
            for folder in (ds.get('data_prefix') or {}).values():
                path = osp.join(root, folder)
                if folder and not osp.isdir(path):
                    raise FileNotFoundError(f'{key}: data folder not found: {path}')


@TRANSFORMS.register_module()
class CheckSegMapSize(BaseTransform):
    """Fail with both file names when a label map's size differs from its image's."""

    def transform(self, results):
        seg = results.get('gt_seg_map')
        if seg is not None and seg.shape[:2] != results['img'].shape[:2]:
            raise ValueError(
                f"label map {results.get('seg_map_path')} is {seg.shape[1]}x{seg.shape[0]} but "
                f"image {results.get('img_path')} is {results['img'].shape[1]}x"
                f"{results['img'].shape[0]} (width x height)")
        return results


def add_data_checks(cfg):
    """Insert :class:`CheckSegMapSize` right after ``LoadAnnotations`` in segmentation
    pipelines (in place); returns ``cfg``."""
    if cfg.get('default_scope') != 'mmseg':
        return cfg
    for _, loader in _loaders(cfg):
        for ds in _datasets(loader.get('dataset')):
            pipeline = ds.get('pipeline') or []
            types = [t.get('type') for t in pipeline]
            if 'LoadAnnotations' in types and 'CheckSegMapSize' not in types:
                pipeline.insert(types.index('LoadAnnotations') + 1, dict(type='CheckSegMapSize'))
    return cfg
