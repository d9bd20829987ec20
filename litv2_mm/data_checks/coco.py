"""One pass over a parsed COCO-format annotation file (mmdet's ``CocoDataset``, mmdet's
``CocoMetric``), before the dataset is built: :func:`check_coco_annotations`.

Errors (:class:`~litv2_mm.data_checks.CocoAnnotationError`, all kinds found in one pass are
listed together, each with its count, up to 5 examples and what to do):

* top level: no ``images`` or no ``categories`` list (pycocotools: ``KeyError: 'categories'``);
* categories: without ``id`` / ``name``, duplicate ids (pycocotools keeps the last one),
  a name of the config's classes given to two ids (mmdet then makes more labels than the
  head has classes); the config's classes without a category (checked first);
* images: without ``id``, duplicate ids, without ``file_name``, ``width`` or ``height`` not
  positive numbers;
* annotations: not an object, without ``id`` / ``image_id`` / ``category_id`` / ``bbox`` /
  ``area`` (mmdet reads ``area``), duplicate ids (mmdet asserts), an ``image_id`` that is
  no image of the file or a ``category_id`` that is no category of it (both dropped
  silently), a bbox that is not 4 finite numbers or has a negative width or height, an
  ``area`` that is not a finite number, a polygon with fewer than 3 points or an odd number
  of coordinates (mmdet drops it), an RLE without ``counts`` / ``size``, and, where the
  pipeline loads masks, an annotation mmdet keeps that has no segmentation (mmdet:
  ``KeyError: 'mask'`` at its image).

Warnings (logged once each, with the count and examples; the data still trains): boxes
mmdet skips (width or height < 1 px, area <= 0, or no overlap with the image: COCO 2017
train has a few), more than 10 % of boxes reaching past the image's right or bottom edge
(a converter that wrote ``[x1, y1, x2, y2]``), images that share a ``file_name``.

Cost: about 2 s for COCO 2017 train's size (118k images, 860k annotations) on one core,
against 8 s for ``json.load`` of that file (docs/training.md); nothing but the parsed JSON is
read.
"""
import logging
from typing import Any, Iterator, NoReturn, Optional, Sequence

from mmengine.logging import print_log

from .errors import CocoAnnotationError

_EXAMPLES = 5
_MISSING = object()
_IDS = (int, str)  # the JSON types of ids (hashable)
_HINTS = {
    'no_top': "a COCO-format file is a JSON object with 'images', 'annotations' and "
              "'categories' lists",
    'category': "each category needs a unique 'id' and a 'name'",
    'category_dup_name': 'give each class one category (merge the ids in the annotations)',
    'image': "each image needs a unique 'id', its 'file_name' (relative to the data "
             "prefix) and its 'width' and 'height' in pixels",
    'ann_object': "each annotation needs a unique 'id', 'image_id', 'category_id', "
                  "'bbox' ([x, y, width, height]) and 'area'",
    'ann_dup': "give each annotation its own 'id'",
    'ann_image': "the image_id must be the 'id' of an entry of 'images' (same JSON type: "
                 '1 is not "1")',
    'ann_category': "the category_id must be the 'id' of an entry of 'categories'",
    'bbox': 'a bbox is [x, y, width, height]: 4 finite numbers, width and height >= 0',
    'area': "the area is the object's area in pixels (the mask's, else width * height)",
    'polygon': 'a polygon is a flat list [x1, y1, x2, y2, ...] of at least 3 points: '
               'remove the broken polygons (or the annotation)',
    'rle': "an RLE segmentation is {'counts': ..., 'size': [height, width]}",
    'no_mask': 'the pipeline loads masks (LoadAnnotations with_mask=True): give the '
               "annotation a 'segmentation', or load boxes only",
}


class _Findings:
    """Count and first examples of each kind of finding, in the order first found."""

    def __init__(self) -> None:
        self.kinds = {}

    def add(self, kind: str, hint: Optional[str], example: str) -> None:
        entry = self.kinds.get(kind)
        if entry is None:
            entry = self.kinds[kind] = [0, [], hint]
        entry[0] += 1
        if len(entry[1]) < _EXAMPLES:
            entry[1].append(example)

    def lines(self) -> Iterator[str]:
        for kind, (count, examples, hint) in self.kinds.items():
            more = ', ...' if count > len(examples) else ''
            yield (f'  {count} x {kind}: {"; ".join(examples)}{more}.'
                   + (f' {_HINTS[hint][0].upper()}{_HINTS[hint][1:]}.' if hint else ''))


def _number(value: Any) -> bool:
    """A finite JSON number (not a bool, a string, null, NaN or infinity)."""
    return type(value) in (int, float) and value - value == 0


def _check_classes(path: str, categories: list, classes: Optional[Sequence[str]],
                   config_name: str, what: str) -> None:
    """The config's classes each have exactly one category of the file."""
    names = {}
    for cat in categories:
        if isinstance(cat, dict):
            names.setdefault(cat.get('name'), []).append(cat.get('id'))
    if classes is None:
        return
    missing = [c for c in classes if c not in names]
    if missing:
        raise CocoAnnotationError(
            f'{what}: annotation file {path} has no category for {len(missing)} of the '
            f'{len(classes)} classes of config {config_name}: {missing[:20]}'
            f'{" ..." if len(missing) > 20 else ""}. Its {len(names)} categories include '
            f'{sorted(n for n in names if isinstance(n, str))[:8]}. Set the classes of the '
            'config (dataset metainfo=dict(classes=...)) to categories of this file, or use the '
            'annotation file that matches the config.')


def check_coco_annotations(path: str, data: dict, classes: Optional[Sequence[str]] = None,
                           with_mask: bool = False, config_name: str = '<config>',
                           what: str = 'annotations') -> list[str]:
    """Check the parsed COCO-format file ``data`` (read from ``path``) in one pass over its
    images and annotations (see the module doc for the checks).

    Args:
        path (str): the file, for the messages.
        data (dict): its parsed JSON.
        classes (Sequence[str] | None): the classes the config trains or tests on.
        with_mask (bool): whether the pipeline loads masks (annotations need segmentations).
        config_name (str), what (str): named in the messages (the config, the dataloader).

    Returns:
        list[str]: the warnings, also logged.

    Raises:
        CocoAnnotationError: naming the file and, per kind of broken entry, the count and
            examples (annotation id and index, image id, value) and what to do.
    """
    errors, warnings = _Findings(), _Findings()
    images, categories = data.get('images'), data.get('categories')
    for key, value in (('images', images), ('categories', categories)):
        if not isinstance(value, list):
            errors.add(f"top-level '{key}' missing or not a list", 'no_top', f'{key}: '
                       f'{type(value).__name__}')
    annotations = data.get('annotations') or []
    if not isinstance(annotations, list):
        errors.add("top-level 'annotations' not a list", 'no_top', type(annotations).__name__)
        annotations = []
    if errors.kinds:
        _raise(path, errors, what)

    _check_classes(path, categories, classes, config_name, what)
    cat_ids, cat_names = set(), {}
    for index, cat in enumerate(categories):
        cat_id = cat.get('id') if isinstance(cat, dict) else None
        if type(cat_id) not in _IDS or not isinstance(cat.get('name'), str):
            errors.add("category without an 'id' (a number or string) or a 'name'", 'category',
                       f'index {index}: {cat!r:.80}')
            continue
        if cat_id in cat_ids:
            errors.add('duplicate category id', 'category', f'id {cat_id!r} (index {index})')
        cat_ids.add(cat_id)
        cat_names.setdefault(cat['name'], []).append(cat_id)
    for name, ids in cat_names.items():
        if len(ids) > 1 and (classes is None or name in classes):
            errors.add('class name given to more than one category', 'category_dup_name',
                       f'{name!r}: ids {ids}')

    sizes, file_names = {}, set()
    for index, img in enumerate(images):
        image_id = img.get('id') if isinstance(img, dict) else None
        if type(image_id) not in _IDS:
            errors.add("image without an 'id' (a number or string)", 'image',
                       f'index {index}: {img!r:.80}')
            continue
        where = f'image id {image_id!r} (index {index})'
        if image_id in sizes:
            errors.add('duplicate image id', 'image', where)
        name, width, height = img.get('file_name'), img.get('width'), img.get('height')
        if not isinstance(name, str) or not name:
            errors.add("image without 'file_name'", 'image', f'{where}: file_name {name!r}')
        elif name in file_names:
            warnings.add('images sharing a file_name with an earlier image (trained twice)',
                         None, f'{where}: {name}')
        else:
            file_names.add(name)
        if _number(width) and _number(height) and width > 0 and height > 0:
            sizes[image_id] = (width, height)
        else:
            errors.add('image without a positive width and height', 'image',
                       f'{where}: width {width!r}, height {height!r}')
            sizes[image_id] = None

    ann_ids, skipped, past_edge, boxes = set(), _Findings(), _Findings(), 0
    for index, ann in enumerate(annotations):
        try:  # the common case in one expression; anything off: _annotation_errors says what
            ann_id, category_id, area = ann['id'], ann['category_id'], ann['area']
            x, y, w, h = bbox = ann['bbox']
            size = sizes[ann['image_id']]
            ok = ((x - x) + (y - y) + (w - w) + (h - h) + (area - area) == 0 and w >= 0
                  and h >= 0 and size is not None and category_id in cat_ids
                  and ann_id not in ann_ids)
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            _annotation_errors(errors, index, ann, sizes, cat_ids, ann_ids)
            continue
        ann_ids.add(ann_id)
        seg = ann.get('segmentation')
        if seg.__class__ is list:
            for polygon in seg:
                if polygon.__class__ is not list or len(polygon) < 6 or len(polygon) & 1:
                    errors.add('polygon with fewer than 3 points or an odd number of '
                               'coordinates', 'polygon', f'annotation id {ann_id!r} (index '
                               f'{index}): polygon {polygon!r:.40}')
                    break
        elif seg.__class__ is dict:
            if 'counts' not in seg or 'size' not in seg:
                errors.add('RLE segmentation without counts or size', 'rle',
                           f'annotation id {ann_id!r} (index {index}): keys {sorted(seg)}')
        elif seg is not None:
            errors.add('segmentation that is neither polygons nor RLE', 'polygon',
                       f'annotation id {ann_id!r} (index {index}): {seg!r:.40}')
        if ann.get('ignore', False):  # mmdet reads nothing else of these
            continue
        boxes += 1
        width, height = size
        x2, y2 = x + w, y + h
        if ((x2 if x2 < width else width) - (x if x > 0 else 0) <= 0
                or (y2 if y2 < height else height) - (y if y > 0 else 0) <= 0
                or area <= 0 or w < 1 or h < 1):  # as mmdet's CocoDataset.parse_data_info
            skipped.add('', None, f'id {ann_id!r}: bbox {bbox}, area {area}, image '
                                  f'{width}x{height}')
            continue
        if x2 > width + 1 or y2 > height + 1:
            past_edge.add('', None, f'id {ann_id!r}: bbox {bbox}, image {width}x{height}')
        if with_mask and not seg:
            errors.add('annotation without segmentation, in a pipeline that loads masks',
                       'no_mask', f'annotation id {ann_id!r} (index {index})')
    if errors.kinds:
        _raise(path, errors, what)

    messages = [f'{what}: annotation file {path}: {line.strip()}' for line in warnings.lines()]
    for found, text in ((skipped, 'boxes mmdet skips (width or height < 1 px, area <= 0 or '
                                  'outside the image): they do not train'),
                        (past_edge, 'boxes reaching more than 1 px past the right or bottom '
                                    "edge of the image: if the converter wrote [x1, y1, x2, "
                                    "y2], COCO's bbox is [x, y, width, height]")):
        count, examples, _ = found.kinds.get('', (0, [], None))
        if count and (found is skipped or count > 0.1 * boxes):
            messages.append(f'{what}: annotation file {path}: {count} of {boxes} {text} '
                            f'(annotation {"; ".join(examples)}{", ..." if count > 5 else ""})')
    for message in messages:
        print_log(message, logger='current', level=logging.WARNING)
    return messages


def _raise(path: str, errors: _Findings, what: str) -> NoReturn:
    raise CocoAnnotationError(
        f'{what}: annotation file {path} has entries mmdet or pycocotools fail on or drop '
        'silently:\n' + '\n'.join(errors.lines())
        + '\nFix the file (or the converter that wrote it) and run again.')


def _annotation_errors(errors: _Findings, index: int, ann: Any, sizes: dict, cat_ids: set,
                       ann_ids: set) -> None:
    """Add to ``errors`` what is wrong with the annotation ``ann`` (at ``index``) that the
    fast path of :func:`check_coco_annotations` refused."""
    if not isinstance(ann, dict):
        errors.add('annotation that is not a JSON object', 'ann_object',
                   f'index {index}: {ann!r:.60}')
        return
    ann_id = ann.get('id')
    missing = [k for k in ('id', 'image_id', 'category_id', 'bbox', 'area') if k not in ann]
    if missing:
        errors.add(f'annotation without {missing[0]!r}', 'ann_object',
                   f'index {index}' + ('' if ann_id is None else f' (id {ann_id!r})'))
        return
    image_id, category_id, bbox, area = (ann[k] for k in ('image_id', 'category_id', 'bbox',
                                                         'area'))
    where = f'annotation id {ann_id!r} (index {index})'
    if not (type(ann_id) in _IDS and type(image_id) in _IDS and type(category_id) in _IDS):
        errors.add('annotation whose id, image_id or category_id is not a number or string',
                   'ann_object', f'{where}: image_id {image_id!r:.30}, category_id '
                   f'{category_id!r:.30}')
        return
    if ann_id in ann_ids:
        errors.add('duplicate annotation id', 'ann_dup', where)
    ann_ids.add(ann_id)
    if image_id not in sizes:
        errors.add('annotation whose image_id is no image of the file', 'ann_image',
                   f'{where}: image_id {image_id!r}')
    if category_id not in cat_ids:
        errors.add('annotation whose category_id is no category of the file', 'ann_category',
                   f'{where}: category_id {category_id!r} (categories: '
                   f'{sorted(cat_ids, key=str)[:10]})')
    if not (isinstance(bbox, list) and len(bbox) == 4 and all(map(_number, bbox))):
        errors.add('bbox that is not 4 finite numbers', 'bbox', f'{where}: bbox {bbox!r:.60}')
    elif bbox[2] < 0 or bbox[3] < 0:
        errors.add('bbox with a negative width or height', 'bbox', f'{where}: bbox {bbox}')
    if not _number(area):
        errors.add('area that is not a finite number', 'area', f'{where}: area {area!r:.30}')
