"""Named errors for broken data, raised before work is wasted (the table of what is checked,
when and at what cost: docs/training.md, "What a broken input looks like").

Before a dataloader is built (:func:`check_dataloader_annotations`, from the config):

* every dataset and evaluator annotation file of a split exists and parses, data folders
  exist;
* a COCO-format file: its categories cover the config's classes, and one pass over its
  images and annotations (:func:`~litv2_mm.data_checks.check_coco_annotations`);
* the model's heads have ``num_classes`` for the split's classes
  (:func:`check_head_classes`: fewer is an error, more a warning).

When a dataloader's dataset is built (:func:`check_pipelines`, before the first iteration):
its pipeline becomes a :class:`CheckedPipeline`, and the loading transforms run on up to 32
items spread evenly over the dataset (:func:`check_dataset_sample`), so the per-item checks
below see a sample of the data before training.

As each item loads (:class:`CheckedPipeline`): an image that is missing, empty, truncated or
not an image (:func:`check_image_file`), an image whose size differs from its annotation's
width and height, a label map that is missing, of another size than its image, 16-bit,
in colour or holding values beyond the classes (:mod:`~litv2_mm.data_checks.seg`).
"""
import json
import logging
import os.path as osp
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import DATASETS

from .coco import check_coco_annotations
from .errors import ClassCountError, DataError, ImageFileError, ImageSizeError, LabelMapError
from .seg import check_label_map, check_label_map_file, label_sample_warnings

if TYPE_CHECKING:
    import mmcv.transforms
    import mmengine.dataset
    from torch.utils.data import Dataset

HEAD_KEYS = ('bbox_head', 'roi_head.bbox_head', 'roi_head.mask_head', 'decode_head',
             'auxiliary_head', 'head')
"""The keys under ``model`` whose ``num_classes`` (a head, or a list of heads) is checked."""


def leaf_datasets(dataset_cfg: Optional[dict]) -> Iterator[dict]:
    """Yield the leaf dataset configs of a (possibly wrapped) dataset config."""
    if dataset_cfg is None:
        return
    if 'datasets' in dataset_cfg:  # ConcatDataset
        for ds in dataset_cfg['datasets']:
            yield from leaf_datasets(ds)
    elif 'dataset' in dataset_cfg:  # RepeatDataset, ClassBalancedDataset, ...
        yield from leaf_datasets(dataset_cfg['dataset'])
    else:
        yield dataset_cfg


def _read_json(path: str, what: str) -> Any:
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what}: annotation file not found: {path}')
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f'{what}: annotation file {path} does not parse as JSON: {e}') from e


def _config_classes(cfg: Config, ds: dict) -> Optional[tuple]:
    """The class names a dataset config trains or tests on (its metainfo, else its type's)."""
    classes = (ds.get('metainfo') or {}).get('classes')
    if classes is None and isinstance(ds.get('type'), str):
        with DATASETS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
            dataset_cls = registry.get(ds['type'])
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
    return None if classes is None else tuple(classes)


def _check_json_annotations(path: str, what: str, classes: Optional[Sequence[str]],
                            config_name: str, with_mask: bool) -> None:
    data = _read_json(path, what)
    if isinstance(data, dict) and {'images', 'annotations', 'categories'} & set(data):
        check_coco_annotations(path, data, classes, with_mask=with_mask,
                               config_name=config_name, what=what)


def _loads_masks(pipeline: Optional[Sequence]) -> bool:
    return any(isinstance(step, dict) and 'LoadAnnotations' in str(step.get('type'))
               and step.get('with_mask') for step in pipeline or [])


def check_dataloader_annotations(cfg: Config, split: str) -> None:
    """Check the annotation files, data folders and classes of ``cfg``'s
    ``{split}_dataloader`` and ``{split}_evaluator``, and the model's heads against the
    split's classes (see the module doc).

    Raises:
        FileNotFoundError: an annotation file or data folder that does not exist.
        DataError: an annotation file that does not parse;
            :class:`~litv2_mm.data_checks.CocoAnnotationError` for a COCO-format file whose
            categories lack classes of the config or with broken entries;
            :class:`~litv2_mm.data_checks.ClassCountError` for a head with too few classes.
    """
    config_name = getattr(cfg, 'filename', None) or '<config>'
    loader = cfg.get(f'{split}_dataloader')
    what = f'{split}_dataloader'
    split_classes = None
    for ds in leaf_datasets((loader or {}).get('dataset')):
        root = ds.get('data_root') or ''
        classes = _config_classes(cfg, ds)
        split_classes = split_classes or classes
        if ds.get('ann_file'):
            path = osp.join(root, ds['ann_file'])
            if path.endswith('.json'):
                _check_json_annotations(path, what, classes, config_name,
                                        _loads_masks(ds.get('pipeline')))
            elif not osp.isfile(path):
                raise FileNotFoundError(f'{what}: annotation file not found: {path}')
        prefix = ds.get('data_prefix') or {}
        for folder in prefix.values() if isinstance(prefix, dict) else [prefix]:
            if folder and not osp.isdir(osp.join(root, folder)):
                raise FileNotFoundError(f'{what}: data folder not found: {osp.join(root, folder)}')
    evaluators = cfg.get(f'{split}_evaluator')
    for ev in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if isinstance(ev, dict) and str(ev.get('ann_file', '')).endswith('.json'):
            metric = ev.get('metric') or ()
            _check_json_annotations(ev['ann_file'], f'{split}_evaluator', split_classes,
                                    config_name, 'segm' in ([metric] if isinstance(metric, str)
                                                            else metric))
    if split_classes and isinstance(cfg.get('model'), dict):
        # more outputs than classes: said once, for training (or for a config that only tests)
        check_head_classes(cfg.model, split_classes, what, config_name,
                           warn_larger=split == 'train' or not cfg.get('train_dataloader'))


def head_num_classes(model: dict) -> Iterator[tuple[str, int]]:
    """Yield ``(key, num_classes)`` for the heads of a model config (:data:`HEAD_KEYS`; a
    list of heads, as a cascade's, gives ``key.0``, ``key.1``...); class-agnostic heads and
    heads without an integer ``num_classes`` are left out."""
    for key in HEAD_KEYS:
        node = model
        for part in key.split('.'):
            node = node.get(part) if isinstance(node, dict) else None
        heads = node if isinstance(node, (list, tuple)) else [node]
        for i, head in enumerate(heads):
            if (isinstance(head, dict) and type(head.get('num_classes')) is int
                    and not head.get('class_agnostic')):
                suffix = f'.{i}' if isinstance(node, (list, tuple)) else ''
                yield f'model.{key}{suffix}.num_classes', head['num_classes']


def check_head_classes(model: dict, classes: Sequence[str], what: str = 'train_dataloader',
                       config_name: str = '<config>', warn_larger: bool = True) -> list[str]:
    """Raise :class:`~litv2_mm.data_checks.ClassCountError` if a head of the ``model`` config
    (:func:`head_num_classes`) has fewer classes than ``classes``; log a warning (if
    ``warn_larger``) for one with more. Returns the warnings."""
    num, warnings = len(classes), []
    shown = f'{list(classes[:5])}{" ..." if num > 5 else ""}'
    for key, head in head_num_classes(model):
        if head < num:
            raise ClassCountError(
                f'{what}: {key} is {head} but the dataset has {num} classes {shown} (config '
                f'{config_name}): labels {head}..{num - 1} index past the head\'s outputs '
                "(CUDA: 'device-side assert triggered'; CPU: an IndexError). Set "
                f'{key}={num} (--cfg-options {key}={num}), or the dataset\'s classes '
                f'(metainfo=dict(classes=...)) to the {head} classes the head predicts.')
        if head > num and warn_larger:
            warnings.append(
                f'{what}: {key} is {head} but the dataset has {num} classes {shown} (config '
                f'{config_name}): it trains, but {head - num} outputs are never a target, and '
                f'an evaluator may fail on predicted labels {num}..{head - 1}. Set {key}={num} '
                'unless it is on purpose.')
            print_log(warnings[-1], logger='current', level=logging.WARNING)
    return warnings


_JPEG_START, _JPEG_END = b'\xff\xd8\xff', b'\xff\xd9'
_PNG_START = b'\x89PNG\r\n\x1a\n'


def check_image_file(path: Union[str, Path]) -> None:
    """Raise :class:`ImageFileError` naming ``path`` if the local file is missing, empty or
    truncated (a JPEG without its end marker, a PNG without its IEND chunk). Paths with a
    scheme (``s3://``...) are left to their backend."""
    path = str(path)
    if '://' in path:
        return
    hint = 'Replace or remove the file, or drop it from the annotations.'
    if not osp.isfile(path):
        raise ImageFileError(f'image file not found: {path}. {hint}')
    size = osp.getsize(path)
    if size == 0:
        raise ImageFileError(f'image file is empty (0 bytes): {path}. {hint}')
    with open(path, 'rb') as f:  # the signature and the last 4 KB: no second full read
        head = f.read(8)
        f.seek(max(0, size - 4096))
        tail = f.read().rstrip(b'\0')
    if head.startswith(_JPEG_START) and _JPEG_END not in tail[-1024:]:
        raise ImageFileError(f'image file is truncated (JPEG without end marker): {path}. {hint}')
    if head.startswith(_PNG_START) and b'IEND' not in tail[-16:]:
        raise ImageFileError(f'image file is truncated (PNG without IEND chunk): {path}. {hint}')


class CheckedPipeline:
    """A dataset's data pipeline (``mmcv.transforms.Compose``) run transform by transform
    with the per-item checks (see the module doc) around it: before it, the image file
    (:func:`check_image_file`) and, if the pipeline loads label maps, the label map file
    (:func:`~litv2_mm.data_checks.seg.check_label_map_file`); an error naming the image
    if a transform fails before the image is decoded; right after the image is decoded, its
    size against the annotation's ``height`` / ``width`` (mmdet's datasets give them); right
    after the label map is loaded, its size and
    :func:`~litv2_mm.data_checks.seg.check_label_map` (values against ``num_classes``
    and ``ignore_index`` where given). Everything else delegates to the wrapped pipeline."""

    def __init__(self,
                 pipeline: Union['mmcv.transforms.Compose', 'mmengine.dataset.Compose'],
                 num_classes: Optional[int] = None, ignore_index: int = 255) -> None:
        self.pipeline = pipeline
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self.loads_seg = any(getattr(t, 'with_seg', False) for t in pipeline.transforms)

    def __getattr__(self, name: str) -> Any:  # called for names not found on the wrapper itself
        if name == 'pipeline':  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.pipeline, name)

    def __repr__(self) -> str:
        return f'CheckedPipeline({self.pipeline!r})'

    def __call__(self, results: dict) -> Optional[dict]:
        return self._run(results, self.pipeline.transforms)

    def load(self, results: dict) -> Optional[dict]:
        """Run only the loading transforms (``Load...``: deterministic, no random state
        used) with the checks; returns the results."""
        return self._run(results, [t for t in self.pipeline.transforms
                                   if type(t).__name__.startswith('Load')])

    def _run(self, results: dict, transforms: Sequence[Callable]) -> Optional[dict]:
        path = results.get('img_path') if isinstance(results, dict) else None
        if path is not None:
            check_image_file(path)
        if self.loads_seg and isinstance(results.get('seg_map_path'), str):
            check_label_map_file(results['seg_map_path'], path)
        for transform in transforms:
            had_img, had_seg_map = 'img' in results, 'gt_seg_map' in results
            try:
                results = transform(results)
            except Exception as e:
                if path is not None and 'img' not in results:
                    raise ImageFileError(f'image file cannot be decoded: {path} '
                                         f'({type(e).__name__}: {e}). Replace or remove the '
                                         'file, or drop it from the annotations.') from e
                raise
            if results is None:
                return None
            if not had_img and 'img' in results:
                _check_image_size(results)
            if not had_seg_map and 'gt_seg_map' in results:
                _check_seg_map_size(results)
                check_label_map(results['gt_seg_map'], results.get('seg_map_path'),
                                self.num_classes, self.ignore_index,
                                results.get('reduce_zero_label'))
        return results


def _check_image_size(results: dict) -> None:
    height, width = results.get('height'), results.get('width')
    if type(height) is not int or type(width) is not int:
        return
    h, w = results['img'].shape[:2]
    if (h, w) != (height, width):
        swapped = (h, w) == (width, height)
        raise ImageSizeError(
            f"image {results.get('img_path')} decodes to {w}x{h} but its annotation file "
            f'gives it {width}x{height} (width x height): its boxes and masks would be '
            'misplaced. ' + ('The sides are swapped: the file has an EXIF orientation the '
                             'decoder applies; rotate its pixels and drop the tag (or fix '
                             'width/height and the annotations to the rotated image).'
                             if swapped else 'Set width and height in the annotation file '
                             'to the image, or use the image the annotations were made on.'))


def _check_seg_map_size(results: dict) -> None:
    seg, shape = results['gt_seg_map'], results.get('ori_shape')
    if shape is not None and tuple(seg.shape[:2]) != tuple(shape[:2]):
        raise LabelMapError(
            f"label map {results.get('seg_map_path')} is {seg.shape[1]}x{seg.shape[0]} but "
            f"image {results.get('img_path')} is {shape[1]}x{shape[0]} (width x height): "
            'they must be the same size.')


def _seg_settings(dataset: 'Dataset') -> tuple[Optional[tuple], int]:
    """``(classes, ignore_index)`` of an mmseg-style dataset, else ``(None, 255)``."""
    if not (hasattr(dataset, 'ignore_index') and hasattr(dataset, 'reduce_zero_label')):
        return None, 255
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes')
    return (tuple(classes) if classes else None), dataset.ignore_index


def check_dataset_sample(dataset: 'Dataset', num: int = 32) -> list[str]:
    """Run the loading transforms of the checked pipeline of the leaf ``dataset`` on up to
    ``num`` items spread evenly over it (:meth:`CheckedPipeline.load`), so its per-item
    checks fail before training; an error says it was found in the sample. For an mmseg
    dataset, the values of the sampled label maps are also checked as a whole
    (:func:`~litv2_mm.data_checks.seg.label_sample_warnings`). Returns the warnings."""
    size = len(dataset)
    if (not num or not size or not hasattr(dataset, 'get_data_info')
            or not getattr(dataset, '_fully_initialized', True)):
        return []
    indices = sorted(set(np.linspace(0, size - 1, min(num, size)).round().astype(int).tolist()))
    classes, ignore_index = _seg_settings(dataset)
    pipeline = dataset.pipeline
    if not isinstance(pipeline, CheckedPipeline):
        pipeline = CheckedPipeline(pipeline, None if classes is None else len(classes),
                                   ignore_index)
    where = f'{type(dataset).__name__} at {getattr(dataset, "data_root", "") or "?"}'
    values = set()
    for i in indices:
        try:
            results = pipeline.load(dataset.get_data_info(i))
        except DataError as e:
            raise type(e)(f'{e} [Found before training, in item {i} of the {len(indices)} '
                          f'checked of the {size} of {where}; every item is checked as it '
                          'loads.]') from e
        seg = results.get('gt_seg_map') if isinstance(results, dict) else None
        if classes and seg is not None and seg.ndim == 2:
            values.update(np.flatnonzero(np.bincount(seg.ravel(), minlength=1)).tolist())
    warnings = label_sample_warnings(values, classes, ignore_index,
                                     bool(getattr(dataset, 'reduce_zero_label', False)),
                                     len(indices), where) if classes else []
    for message in warnings:
        print_log(message, logger='current', level=logging.WARNING)
    return warnings


def check_pipelines(dataset: 'Dataset', sample: int = 32) -> 'Dataset':
    """Wrap the pipeline of every leaf dataset of a built ``dataset`` (ConcatDataset,
    RepeatDataset... are walked) in :class:`CheckedPipeline` (in place; mmseg datasets
    with their classes and ``ignore_index``), then check a sample of ``sample`` items of
    each (:func:`check_dataset_sample`; 0: none). Returns the dataset."""
    for child in getattr(dataset, 'datasets', None) or [getattr(dataset, 'dataset', None)]:
        if child is not None:
            check_pipelines(child, sample)
    pipeline = getattr(dataset, 'pipeline', None)
    if hasattr(pipeline, 'transforms') and not isinstance(pipeline, CheckedPipeline):
        classes, ignore_index = _seg_settings(dataset)
        dataset.pipeline = CheckedPipeline(pipeline, None if classes is None else len(classes),
                                           ignore_index)
        if not (hasattr(dataset, 'datasets') or hasattr(dataset, 'dataset')):  # a leaf
            check_dataset_sample(dataset, sample)
    return dataset
