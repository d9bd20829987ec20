"""COCO-format instance sets of filled shapes: the 4-class set (``make_coco``) and one in
the COCO-2017 layout with the 80 COCO categories (``make_coco2017``)."""
import json
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Union

import cv2
import numpy as np

from .common import (JPEG_PARAMS, SPLITS, VERSION, ensure, finish, generate, image_rng,
                     progress_bar, remove_files, validated_params, write_image)
from .shapes import SHAPE_CLASSES, background, fill_shape, place_shapes

COCO_CLASSES = SHAPE_CLASSES
"""Class names of the 4-class set in category-id order (category_id = index + 1)."""

COCO2017_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat',
    'traffic light', 'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog',
    'horse', 'sheep', 'cow', 'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella',
    'handbag', 'tie', 'suitcase', 'frisbee', 'skis', 'snowboard', 'sports ball', 'kite',
    'baseball bat', 'baseball glove', 'skateboard', 'surfboard', 'tennis racket', 'bottle',
    'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple', 'sandwich', 'orange',
    'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard',
    'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock',
    'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush')
"""The 80 COCO category names in mmdet's ``CocoDataset.METAINFO['classes']`` order."""
COCO2017_CATEGORY_IDS = tuple(i for i in range(1, 91)
                              if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83))
"""The real COCO category ids of COCO2017_CLASSES (1..90 with the standard gaps)."""
# (name, number of consecutive classes)
_COCO2017_SUPERCATEGORIES = (('person', 1), ('vehicle', 8), ('outdoor', 5), ('animal', 10),
                             ('accessory', 5), ('sports', 10), ('kitchen', 7), ('food', 10),
                             ('furniture', 6), ('electronic', 6), ('appliance', 5), ('indoor', 7))

# Annotation tracing: fragments under these limits are dropped; polygons traced at 4x.
_MIN_FRAGMENT_FRACTION = 0.02
_MIN_FRAGMENT_PIXELS = 12
_TRACE_SCALE = 4


class _Layout(NamedTuple):
    image_dirs: dict         # split -> image folder
    ann_files: dict          # split -> annotation json, relative to the dataset dir
    file_digits: int         # zero-padded image id in the file name
    categories: list         # COCO 'categories' records, in class-index order


_SHAPES_LAYOUT = _Layout(
    image_dirs={split: split for split in SPLITS},
    ann_files={split: f'annotations/instances_{split}.json' for split in SPLITS},
    file_digits=6,
    categories=[{'id': i + 1, 'name': name, 'supercategory': 'shape'}
                for i, name in enumerate(COCO_CLASSES)])

_COCO2017_LAYOUT = _Layout(
    image_dirs={split: f'{split}2017' for split in SPLITS},
    ann_files={split: f'annotations/instances_{split}2017.json' for split in SPLITS},
    file_digits=12,
    categories=[{'id': cat_id, 'name': name, 'supercategory': supercategory}
                for cat_id, name, supercategory in zip(
                    COCO2017_CATEGORY_IDS, COCO2017_CLASSES,
                    [name for name, count in _COCO2017_SUPERCATEGORIES for _ in range(count)])])

_LAYOUTS = {'coco': _SHAPES_LAYOUT, 'coco2017': _COCO2017_LAYOUT}


def _instance_annotation(
        visible: np.ndarray, full_area: Union[float, np.integer]
) -> Optional[tuple[list[list[float]], list[float], float]]:
    """(polygons [[x1, y1, ...], ...], bbox [x, y, w, h], area) of a visible mask, or None.

    COCO coordinates: pixel (i, j) covers [i, i+1) x [j, j+1). Polygons follow the outer
    pixel edges (traced at _TRACE_SCALE x, so within 1/8 px); masks are hole-free by
    construction. Fragments under _MIN_FRAGMENT_FRACTION of the full shape are dropped;
    bbox and area (pixel count) describe the kept pixels.
    """
    contours, _ = cv2.findContours(visible.view(np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    min_area = max(_MIN_FRAGMENT_PIXELS, _MIN_FRAGMENT_FRACTION * full_area)
    kept = [c for c in contours if cv2.contourArea(c) >= min_area]
    if not kept:
        return None
    kept_mask = np.zeros(visible.shape, np.uint8)
    cv2.drawContours(kept_mask, kept, -1, 1, thickness=cv2.FILLED)
    kept_mask &= visible.view(np.uint8)
    traced = cv2.resize(kept_mask, None, fx=_TRACE_SCALE, fy=_TRACE_SCALE,
                        interpolation=cv2.INTER_NEAREST)
    outlines, _ = cv2.findContours(traced, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = [((outline.reshape(-1) + 0.5) / _TRACE_SCALE).tolist() for outline in outlines]
    ys, xs = np.nonzero(kept_mask)
    bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1),
            float(ys.max() - ys.min() + 1)]
    return polygons, bbox, float(len(xs))


def _sample(rng: np.random.Generator, h: int, w: int,
            num_categories: int) -> tuple[np.ndarray, list[tuple]]:
    """Return (BGR uint8 image (h, w, 3), [(category index, polygons, bbox, area), ...])."""
    image = background(rng, h, w)
    shapes = place_shapes(rng, h, w, num_categories)
    for shape in shapes:
        fill_shape(rng, image, shape.mask, shape.hue)
    instances = []
    for shape in shapes:
        annotation = _instance_annotation(shape.visible, shape.mask.sum())
        if annotation is not None:
            instances.append((shape.category, *annotation))
    return finish(rng, image, rng.uniform(3, 10)), instances


def _file_name(layout: _Layout, image_id: int) -> str:
    return f'{image_id:0{layout.file_digits}d}.jpg'


def _expected_files(dataset: str, params: dict) -> list[str]:
    layout = _LAYOUTS[dataset]
    files = list(layout.ann_files.values())
    for split in SPLITS:
        files += [f'{layout.image_dirs[split]}/{_file_name(layout, i + 1)}'
                  for i in range(params[f'num_{split}'])]
    return files


def _write(dataset: str, out_dir: Path, params: dict, progress: bool) -> dict:
    """Write images and annotation json of both splits; returns the per-split summary."""
    layout = _LAYOUTS[dataset]
    h, w = params['image_size']
    names = [category['name'] for category in layout.categories]
    (out_dir / 'annotations').mkdir(parents=True, exist_ok=True)
    summary = {}
    for split in SPLITS:
        image_dir = out_dir / layout.image_dirs[split]
        image_dir.mkdir(parents=True, exist_ok=True)
        remove_files(image_dir, '[0-9]' * layout.file_digits + '.jpg')
        images, annotations = [], []
        for index in progress_bar(range(params[f'num_{split}']), f'{dataset} {split}', progress):
            image, instances = _sample(image_rng(params['seed'], dataset, split, index), h, w,
                                       len(names))
            image_id = index + 1
            file_name = _file_name(layout, image_id)
            write_image(image_dir / file_name, image, JPEG_PARAMS)
            images.append({'id': image_id, 'file_name': file_name, 'width': w, 'height': h})
            for category, polygons, bbox, area in instances:
                annotations.append({
                    'id': len(annotations) + 1, 'image_id': image_id,
                    'category_id': layout.categories[category]['id'],
                    'bbox': bbox, 'area': area, 'iscrowd': 0, 'segmentation': polygons})
        coco = {'info': {'description': 'litv2_mm synthetic shapes', 'version': str(VERSION)},
                'licenses': [], 'images': images, 'annotations': annotations,
                'categories': layout.categories}
        (out_dir / layout.ann_files[split]).write_text(json.dumps(coco, separators=(',', ':')))
        index_of = {category['id']: index for index, category in enumerate(layout.categories)}
        per_category = dict.fromkeys(names, 0)
        for annotation in annotations:
            per_category[names[index_of[annotation['category_id']]]] += 1
        summary[split] = {'images': len(images), 'annotations': len(annotations),
                          'per_category': per_category}
    return summary


def make_coco(out_dir: Union[str, Path], num_train: int = 200, num_val: int = 50,
              image_size: Union[int, Sequence[int]] = 256, seed: int = 0,
              progress: bool = False) -> dict:
    """Write the 4-class COCO-format shapes set and return its meta record.

    Layout: ``out_dir/{train,val}/NNNNNN.jpg`` (BGR JPEG, quality 95, ids from 1),
    ``out_dir/annotations/instances_{train,val}.json`` (polygon segmentation,
    bbox [x, y, w, h] of the visible pixels), ``out_dir/meta.json``.
    ``image_size`` is an int or an (h, w) pair; stale ``NNNNNN.jpg`` files are removed;
    ``progress`` shows a tqdm bar when tqdm is installed.
    """
    params = validated_params(num_train, num_val, image_size, seed)
    return generate('coco', out_dir, params, lambda *args: _write('coco', *args), progress)


def make_coco2017(out_dir: Union[str, Path], num_train: int = 2, num_val: int = 2,
                  image_size: Union[int, Sequence[int]] = (480, 640), seed: int = 0,
                  progress: bool = False) -> dict:
    """Write a shapes set in the COCO-2017 layout with the 80 COCO categories; returns its meta
    record.

    Layout: ``out_dir/{train2017,val2017}/NNNNNNNNNNNN.jpg`` and
    ``out_dir/annotations/instances_{train2017,val2017}.json`` with the real category ids
    and names (``COCO2017_CATEGORY_IDS``, ``COCO2017_CLASSES``); a shape of category index
    ``c`` is drawn as ``SHAPE_CLASSES[c % 4]``. Otherwise like ``make_coco``.
    """
    params = validated_params(num_train, num_val, image_size, seed)
    return generate('coco2017', out_dir, params, lambda *args: _write('coco2017', *args), progress)


def ensure_coco(root: Optional[Union[str, Path]] = None, force: bool = False,
                progress: bool = False, **params: Any) -> Path:
    """Generate the 4-class set in root (default DEFAULT_ROOT/coco) unless it is already there.

    ``params`` are make_coco's keyword arguments; the set is regenerated when meta.json is
    missing or records other parameters or version, or files are missing, or with ``force``.
    Returns the dataset dir as a Path.
    """
    return ensure('coco', root, make_coco, lambda p: _expected_files('coco', p),
                  force, progress, params)


def ensure_coco2017(root: Optional[Union[str, Path]] = None, force: bool = False,
                    progress: bool = False, **params: Any) -> Path:
    """Like ensure_coco for the COCO-2017 layout set (default root DEFAULT_ROOT/coco2017)."""
    return ensure('coco2017', root, make_coco2017, lambda p: _expected_files('coco2017', p),
                  force, progress, params)
