"""Named errors for broken data, raised before work is wasted.

* :func:`check_dataloader_annotations`: every dataset and evaluator annotation file of a
  split exists and parses, image folders exist, and a COCO-style file has a category for
  every class the config names (else mmdet fails at the end of the first evaluation).
* :func:`check_image_file` and :class:`CheckedPipeline`: an image that is missing, empty,
  truncated or not an image fails naming the file; a label map whose size differs from its
  image fails naming both files.
"""
import json
import os.path as osp

from mmengine.registry import DATASETS


class DataError(ValueError):
    """Broken data: the message names the file and what to do."""


class ImageFileError(DataError):
    """An image file that cannot be read."""


def leaf_datasets(dataset_cfg):
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


def _read_json(path, what):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{what}: annotation file not found: {path}')
    try:
        with open(path) as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise DataError(f'{what}: annotation file {path} does not parse as JSON: {e}') from e


def _config_classes(cfg, ds):
    """The class names a dataset config trains or tests on (its metainfo, else its type's)."""
    classes = (ds.get('metainfo') or {}).get('classes')
    if classes is None and isinstance(ds.get('type'), str):
        with DATASETS.switch_scope_and_registry(cfg.get('default_scope')) as registry:
            dataset_cls = registry.get(ds['type'])
        classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
    return None if classes is None else tuple(classes)


def _check_categories(path, annotations, classes, config_name, what):
    if not isinstance(annotations, dict) or 'categories' not in annotations or classes is None:
        return
    names = {c.get('name') for c in annotations['categories']}
    missing = [c for c in classes if c not in names]
    if missing:
        raise DataError(
            f'{what}: annotation file {path} has no category for {len(missing)} of the '
            f'{len(classes)} classes of config {config_name}: {missing[:20]}'
            f'{" ..." if len(missing) > 20 else ""}. Its {len(names)} categories include '
            f'{sorted(n for n in names if n)[:8]}. Set the classes of the config '
            '(dataset metainfo=dict(classes=...)) to categories of this file, or use the '
            'annotation file that matches the config.')


def check_dataloader_annotations(cfg, split):
    """Check the annotation files, image folders and categories of ``cfg``'s
    ``{split}_dataloader`` and ``{split}_evaluator`` (see the module doc).

    Raises:
        FileNotFoundError: an annotation file or image folder that does not exist.
        DataError: an annotation file that does not parse, or whose categories lack
            classes of the config (naming the file, the missing classes and the config).
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
                _check_categories(path, _read_json(path, what), classes, config_name, what)
            elif not osp.isfile(path):
                raise FileNotFoundError(f'{what}: annotation file not found: {path}')
        prefix = ds.get('data_prefix') or {}
        for folder in prefix.values() if isinstance(prefix, dict) else [prefix]:
            if folder and not osp.isdir(osp.join(root, folder)):
                raise FileNotFoundError(f'{what}: data folder not found: {osp.join(root, folder)}')
    evaluators = cfg.get(f'{split}_evaluator')
    for ev in evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]:
        if isinstance(ev, dict) and str(ev.get('ann_file', '')).endswith('.json'):
            path = ev['ann_file']
            _check_categories(path, _read_json(path, f'{split}_evaluator'), split_classes,
                              config_name, f'{split}_evaluator')


_JPEG_START, _JPEG_END = b'\xff\xd8\xff', b'\xff\xd9'
_PNG_START = b'\x89PNG\r\n\x1a\n'


def check_image_file(path):
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
    with the checks of :func:`check_image_file` before it, an error naming the image if a
    transform fails before the image is decoded, and a label-map size check right after
    the label map is loaded. Everything else delegates to the wrapped pipeline."""

    def __init__(self, pipeline):
        self.pipeline = pipeline

    def __getattr__(self, name):  # called for names not found on the wrapper itself
        if name == 'pipeline':  # not set yet (unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.pipeline, name)

    def __repr__(self):
        return f'CheckedPipeline({self.pipeline!r})'

    def __call__(self, results):
        path = results.get('img_path') if isinstance(results, dict) else None
        if path is not None:
            check_image_file(path)
        for transform in self.pipeline.transforms:
            had_seg_map = 'gt_seg_map' in results
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
            if not had_seg_map and 'gt_seg_map' in results:
                _check_seg_map_size(results)
        return results


def _check_seg_map_size(results):
    seg, shape = results['gt_seg_map'], results.get('ori_shape')
    if shape is not None and tuple(seg.shape[:2]) != tuple(shape[:2]):
        raise DataError(
            f"label map {results.get('seg_map_path')} is {seg.shape[1]}x{seg.shape[0]} but "
            f"image {results.get('img_path')} is {shape[1]}x{shape[0]} (width x height): "
            'they must be the same size.')


def check_pipelines(dataset):
    """Wrap the pipeline of every leaf dataset of a built ``dataset`` (ConcatDataset,
    RepeatDataset... are walked) in :class:`CheckedPipeline` (in place); returns it."""
    for child in getattr(dataset, 'datasets', None) or [getattr(dataset, 'dataset', None)]:
        if child is not None:
            check_pipelines(child)
    pipeline = getattr(dataset, 'pipeline', None)
    if hasattr(pipeline, 'transforms') and not isinstance(pipeline, CheckedPipeline):
        dataset.pipeline = CheckedPipeline(pipeline)
    return dataset
