"""Deterministic synthetic datasets for demos and tests (no downloads).

* COCO-format instance set: filled shapes (``COCO_CLASSES``) on textured
  backgrounds, with occlusion-aware polygons and boxes (``make_coco`` / ``ensure_coco``).
* ADE20K-format semantic set: simple scenes of wall / sky / floor regions with
  trees and persons (``make_ade`` / ``ensure_ade``); label values follow ADE20K
  (0 = other, 1..150 = 1-based ADE20K class), see ``ADE_CLASSES``.

Every image is drawn from its own ``numpy.random.default_rng((seed, dataset, split,
index))``, so equal parameters give byte-identical json and identical pixels.
Only numpy, OpenCV and the standard library are used.
"""
import colorsys
import inspect
import json
import math
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np

VERSION = 1
REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ROOT = REPO_ROOT / 'data' / 'generated'
META_FILE = 'meta.json'
MIN_IMAGE_SIDE = 32
SPLITS = ('train', 'val')

COCO_CLASSES = ('circle', 'rectangle', 'triangle', 'star')
"""Shape names in category-id order (category_id = index + 1)."""

_WALL, _SKY, _FLOOR, _TREE, _PERSON = 1, 3, 4, 5, 13  # ADE20K's 1-based class ids
ADE_CLASSES = {_WALL: 'wall', _SKY: 'sky', _FLOOR: 'floor', _TREE: 'tree', _PERSON: 'person'}
"""Label value in the PNG maps -> ADE20K class name (values are ADE20K's 1-based ids)."""
ADE_OTHER = 0
"""Label value of unlabelled "other" pixels (ignored with reduce_zero_label=True)."""

_DATASET_TAGS = {'coco': 1, 'ade': 2}
_JPEG_PARAMS = [cv2.IMWRITE_JPEG_QUALITY, 95]

# COCO shapes: object side as a fraction of the shorter image side, occlusion limits.
_SHAPE_SIZE_RANGE = (0.12, 0.5)
_MIN_VISIBLE_FRACTION = 0.3
_MIN_FRAGMENT_FRACTION = 0.02
_MIN_FRAGMENT_PIXELS = 12
_PLACEMENT_TRIES = 20
_TRACE_SCALE = 4
_MIN_HUE_DISTANCE = 0.1

_ADE_SPLIT_NAMES = {'train': ('training', 'ADE_train'), 'val': ('validation', 'ADE_val')}


# ----------------------------------------------------------------------------- arguments
def _is_int(value):
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_count(name, value):
    if not _is_int(value) or value <= 0:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def _check_size(image_size):
    """Return [h, w] from an int or an (h, w) pair; each side must be >= MIN_IMAGE_SIDE."""
    if _is_int(image_size):
        sides = [image_size, image_size]
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        sides = list(image_size)
    else:
        raise ValueError(f'image_size must be an int or an (h, w) pair, got {image_size!r}')
    if not all(_is_int(side) and side >= MIN_IMAGE_SIDE for side in sides):
        raise ValueError(f'image_size sides must be integers >= {MIN_IMAGE_SIDE}, got {image_size!r}')
    return [int(side) for side in sides]


def _validated_params(num_train, num_val, image_size, seed):
    """Return the json-ready generation parameters, raising ValueError on bad values."""
    if not _is_int(seed) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    return {
        'num_train': _check_count('num_train', num_train),
        'num_val': _check_count('num_val', num_val),
        'image_size': _check_size(image_size),
        'seed': int(seed),
    }


# ----------------------------------------------------------------------------- drawing helpers
def _image_rng(seed, dataset, split, index):
    return np.random.default_rng([seed, _DATASET_TAGS[dataset], SPLITS.index(split), index])


def _hsv_to_bgr(hue, saturation, value):
    """(3,) float32 BGR in 0..255 from HSV components in 0..1 (hue wraps)."""
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return np.array([blue, green, red], np.float32) * 255


def _smooth_noise(rng, h, w, cells):
    """(h, w) float32 noise in about [-1, 1]: a cells x cells grid upsampled bicubically."""
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def _stripes(rng, h, w, angle_range, period_range):
    """(h, w) float32 sine stripes in [-1, 1]; the wave runs along a random angle (radians)."""
    angle = rng.uniform(*angle_range)
    period = rng.uniform(*period_range)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) / period
    return np.sin(2 * math.pi * phase + rng.uniform(0, 2 * math.pi)).astype(np.float32)


def _finish(rng, image, noise_sigma):
    """Add pixel noise to a float (h, w, 3) image and return it as BGR uint8."""
    image = image + rng.normal(0, noise_sigma, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def _write_image(path, array, params=()):
    if not cv2.imwrite(str(path), array, list(params)):
        raise OSError(f'cv2 could not write {path}')


def _remove_files(directory, pattern):
    for path in directory.glob(pattern):
        path.unlink()


def _progress(iterable, desc, enabled):
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            return iterable
        return tqdm(iterable, desc=desc, unit='img')
    return iterable


# ----------------------------------------------------------------------------- COCO shapes
class _Shape(NamedTuple):
    category: int            # index into COCO_CLASSES
    centre: np.ndarray       # (2,) float (x, y)
    size: float              # extent in pixels
    hue: float
    mask: np.ndarray         # (h, w) bool, the whole shape
    visible: np.ndarray      # (h, w) bool, the part not covered by later shapes


def _shape_polygon(rng, category, centre, size):
    """(N, 2) float (x, y) vertices of a shape of extent ~size around centre."""
    name = COCO_CLASSES[category]
    radius = size / 2
    angle = rng.uniform(0, 2 * math.pi)
    if name == 'rectangle':
        aspect = rng.uniform(0.45, 1.0)
        corners = np.array([[-1, -aspect], [1, -aspect], [1, aspect], [-1, aspect]]) * radius
        rotation = np.array([[math.cos(angle), -math.sin(angle)], [math.sin(angle), math.cos(angle)]])
        return centre + corners @ rotation.T
    if name == 'circle':
        angles = np.linspace(0, 2 * math.pi, 48, endpoint=False)
        radii = np.full(48, radius)
    elif name == 'triangle':
        angles = angle + np.arange(3) * 2 * math.pi / 3 + rng.uniform(-0.25, 0.25, 3)
        radii = radius * rng.uniform(0.85, 1.0, 3)
    else:  # star
        angles = angle + np.arange(10) * math.pi / 5
        radii = np.where(np.arange(10) % 2 == 0, radius, radius * rng.uniform(0.38, 0.5))
    return centre + np.stack([np.cos(angles), np.sin(angles)], axis=1) * radii[:, None]


def _rasterise(polygon, h, w):
    """(h, w) bool mask of a float polygon (sub-pixel vertices)."""
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.rint(polygon * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return canvas.astype(bool)


def _has_hole(mask):
    _, hierarchy = cv2.findContours(mask.view(np.uint8), cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    return hierarchy is not None and bool((hierarchy[0, :, 3] >= 0).any())


def _keeps_visible(visible, full_area):
    """True if an occluded shape keeps enough area and no holes (polygons cannot hold holes)."""
    return visible.sum() >= _MIN_VISIBLE_FRACTION * full_area and not _has_hole(visible)


def _sample_centre(rng, h, w, size, placed):
    """(2,) float (x, y); half the time next to an earlier shape so that shapes overlap."""
    if placed and rng.random() < 0.5:
        other = placed[rng.integers(len(placed))]
        distance = rng.uniform(0.35, 0.8) * (other.size + size) / 2
        direction = rng.uniform(0, 2 * math.pi)
        centre = other.centre + distance * np.array([math.cos(direction), math.sin(direction)])
    else:
        centre = rng.uniform([0, 0], [w, h])
    return np.clip(centre, size / 2, [w - size / 2, h - size / 2])


def _distinct_hue(rng, hues):
    """A hue in [0, 1) at least _MIN_HUE_DISTANCE (circularly) from the given ones, if found."""
    for _ in range(10):
        hue = rng.uniform()
        if all(min(abs(hue - other), 1 - abs(hue - other)) >= _MIN_HUE_DISTANCE for other in hues):
            break
    return hue


def _place_shapes(rng, h, w):
    """1-4 shapes in drawing order; later shapes may cover at most 70% of earlier ones."""
    side = min(h, w)
    placed = []
    for _ in range(rng.integers(1, 5)):
        category = int(rng.integers(len(COCO_CLASSES)))
        hue = _distinct_hue(rng, [shape.hue for shape in placed])
        for _ in range(_PLACEMENT_TRIES):
            size = side * math.exp(rng.uniform(*np.log(_SHAPE_SIZE_RANGE)))
            centre = _sample_centre(rng, h, w, size, placed)
            mask = _rasterise(_shape_polygon(rng, category, centre, size), h, w)
            covered = [shape.visible & ~mask for shape in placed]
            if all(_keeps_visible(visible, shape.mask.sum()) for visible, shape in zip(covered, placed)):
                placed = [shape._replace(visible=visible) for shape, visible in zip(placed, covered)]
                placed.append(_Shape(category, centre, size, hue, mask, mask))
                break
    return placed


def _coco_background(rng, h, w):
    """(h, w, 3) float32 BGR: two muted colours blended by smooth noise, stripes, gradient."""
    hue = rng.uniform()
    colours = [_hsv_to_bgr(hue + rng.uniform(-0.15, 0.15), rng.uniform(0, 0.35), rng.uniform(0.3, 0.8))
               for _ in range(2)]
    blend = np.clip((_smooth_noise(rng, h, w, int(rng.integers(2, 7))) + 1) / 2, 0, 1)[..., None]
    image = colours[0] * (1 - blend) + colours[1] * blend
    if rng.random() < 0.6:
        period = (4, max(8, min(h, w) / 6))
        image += _stripes(rng, h, w, (0, math.pi), period)[..., None] * rng.uniform(-30, 30, 3)
    if rng.random() < 0.5:  # a quarter of a very long wave: a smooth colour gradient
        ramp = _stripes(rng, h, w, (0, 2 * math.pi), (4 * max(h, w), 4 * max(h, w)))
        image += ramp[..., None] * rng.uniform(-40, 40, 3)
    return image.astype(np.float32)


def _instance_annotation(visible, full_area):
    """(polygons [[x1, y1, ...], ...], bbox [x, y, w, h], area) of a visible mask, or None.

    COCO coordinates: pixel (i, j) covers [i, i+1) x [j, j+1). Polygons follow the outer
    pixel edges (traced at _TRACE_SCALE x, so within 1/8 px); masks are hole-free by
    construction. Fragments under _MIN_FRAGMENT_FRACTION of the full shape are dropped;
    bbox and area (pixel count) describe the kept pixels.
    """
    contours, _ = cv2.findContours(visible.view(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    min_area = max(_MIN_FRAGMENT_PIXELS, _MIN_FRAGMENT_FRACTION * full_area)
    kept = [c for c in contours if cv2.contourArea(c) >= min_area]
    if not kept:
        return None
    kept_mask = np.zeros(visible.shape, np.uint8)
    cv2.drawContours(kept_mask, kept, -1, 1, thickness=cv2.FILLED)
    kept_mask &= visible.view(np.uint8)
    traced = cv2.resize(kept_mask, None, fx=_TRACE_SCALE, fy=_TRACE_SCALE, interpolation=cv2.INTER_NEAREST)
    outlines, _ = cv2.findContours(traced, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    polygons = [((outline.reshape(-1) + 0.5) / _TRACE_SCALE).tolist() for outline in outlines]
    ys, xs = np.nonzero(kept_mask)
    bbox = [float(xs.min()), float(ys.min()), float(xs.max() - xs.min() + 1), float(ys.max() - ys.min() + 1)]
    return polygons, bbox, float(len(xs))


def _coco_sample(rng, h, w):
    """Return (BGR uint8 image (h, w, 3), [(category index, polygons, bbox, area), ...])."""
    image = _coco_background(rng, h, w)
    shapes = _place_shapes(rng, h, w)
    for shape in shapes:
        colour = _hsv_to_bgr(shape.hue, rng.uniform(0.55, 1.0), rng.uniform(0.55, 1.0))
        texture = colour + _smooth_noise(rng, h, w, 4)[..., None] * rng.uniform(5, 20)
        image[shape.mask] = texture[shape.mask]
    instances = []
    for shape in shapes:
        annotation = _instance_annotation(shape.visible, shape.mask.sum())
        if annotation is not None:
            instances.append((shape.category, *annotation))
    return _finish(rng, image, rng.uniform(3, 10)), instances


def _coco_file_name(image_id):
    return f'{image_id:06d}.jpg'


def _coco_files(params):
    files = [f'annotations/instances_{split}.json' for split in SPLITS]
    for split in SPLITS:
        files += [f'{split}/{_coco_file_name(i + 1)}' for i in range(params[f'num_{split}'])]
    return files


def _write_coco(out_dir, params, progress):
    """Write images and annotation json of both splits; returns the per-split summary."""
    h, w = params['image_size']
    categories = [{'id': i + 1, 'name': name, 'supercategory': 'shape'} for i, name in enumerate(COCO_CLASSES)]
    (out_dir / 'annotations').mkdir(parents=True, exist_ok=True)
    summary = {}
    for split in SPLITS:
        image_dir = out_dir / split
        image_dir.mkdir(parents=True, exist_ok=True)
        _remove_files(image_dir, '[0-9]' * 6 + '.jpg')
        images, annotations = [], []
        for index in _progress(range(params[f'num_{split}']), f'coco {split}', progress):
            image, instances = _coco_sample(_image_rng(params['seed'], 'coco', split, index), h, w)
            image_id = index + 1
            _write_image(image_dir / _coco_file_name(image_id), image, _JPEG_PARAMS)
            images.append({'id': image_id, 'file_name': _coco_file_name(image_id), 'width': w, 'height': h})
            for category, polygons, bbox, area in instances:
                annotations.append({
                    'id': len(annotations) + 1, 'image_id': image_id, 'category_id': category + 1,
                    'bbox': bbox, 'area': area, 'iscrowd': 0, 'segmentation': polygons})
        coco = {'info': {'description': 'litv2_mm synthetic shapes', 'version': str(VERSION)},
                'licenses': [], 'images': images, 'annotations': annotations, 'categories': categories}
        (out_dir / 'annotations' / f'instances_{split}.json').write_text(json.dumps(coco, separators=(',', ':')))
        per_category = {name: 0 for name in COCO_CLASSES}
        for annotation in annotations:
            per_category[COCO_CLASSES[annotation['category_id'] - 1]] += 1
        summary[split] = {'images': len(images), 'annotations': len(annotations), 'per_category': per_category}
    return summary


# ----------------------------------------------------------------------------- ADE scenes
class _Style(NamedTuple):
    """Colour tendency and texture of one label value."""
    hue: tuple
    saturation: tuple
    brightness: tuple
    noise_cells: int          # smooth-noise grid cells across a 128 px side
    noise_amplitude: float
    stripe_angles: tuple | None  # radians; None = no stripes
    vertical_gradient: float  # brightening towards the bottom, 0..255


_ADE_STYLES = {
    ADE_OTHER: _Style((0, 1), (0, 1), (0.2, 0.9), 6, 25, (0, math.pi), 0),
    _WALL: _Style((0.05, 0.15), (0.05, 0.3), (0.6, 0.9), 4, 12, (math.pi / 2, math.pi / 2), 0),  # courses
    _SKY: _Style((0.55, 0.62), (0.3, 0.7), (0.75, 1.0), 3, 20, None, 40),
    _FLOOR: _Style((0.05, 0.1), (0.35, 0.65), (0.3, 0.6), 8, 15, (math.pi / 3, 2 * math.pi / 3), 0),  # planks
    _TREE: _Style((0.22, 0.38), (0.5, 0.9), (0.25, 0.6), 26, 35, None, 0),  # leaves
    _PERSON: _Style((0, 1), (0.4, 0.9), (0.3, 0.9), 4, 12, None, 0),  # clothes
}
_SKIN = _Style((0.03, 0.1), (0.3, 0.6), (0.5, 0.9), 4, 8, None, 0)
_BARK = _Style((0.06, 0.1), (0.5, 0.7), (0.2, 0.4), 10, 15, (0, 0), 0)


def _texture(rng, h, w, style):
    """(h, w, 3) float32 BGR texture following a style."""
    colour = _hsv_to_bgr(rng.uniform(*style.hue), rng.uniform(*style.saturation), rng.uniform(*style.brightness))
    cells = max(2, round(style.noise_cells * min(h, w) / 128))
    image = colour + _smooth_noise(rng, h, w, cells)[..., None] * style.noise_amplitude
    if style.stripe_angles is not None:
        image += _stripes(rng, h, w, style.stripe_angles, (5, 12))[..., None] * rng.uniform(10, 25)
    if style.vertical_gradient:
        image += np.linspace(0, style.vertical_gradient, h, dtype=np.float32)[:, None, None]
    return image.astype(np.float32)


def _paint(rng, image, label, mask, value, style=None):
    """Fill mask ((h, w) bool) of image with a texture and of label with value, in place."""
    h, w = label.shape
    image[mask] = _texture(rng, h, w, style or _ADE_STYLES[value])[mask]
    label[mask] = value


def _blank(h, w):
    return np.zeros((h, w), np.uint8)


def _person_masks(h, w, x, base, height):
    """(head, torso, legs) (h, w) bool masks of a person standing at (x, base)."""
    head, torso, legs = _blank(h, w), _blank(h, w), _blank(h, w)
    cv2.circle(head, (round(x), round(base - 0.9 * height)), max(1, round(0.09 * height)), 1, -1)
    cv2.ellipse(torso, (round(x), round(base - 0.6 * height)),
                (max(1, round(0.13 * height)), max(1, round(0.22 * height))), 0, 0, 360, 1, -1)
    for side in (-1, 1):
        left = round(x + side * 0.05 * height - 0.035 * height)
        right = left + max(1, round(0.07 * height))
        cv2.rectangle(legs, (left, round(base - 0.42 * height)), (right, round(base)), 1, -1)
    return head.astype(bool), torso.astype(bool), legs.astype(bool)


def _tree_masks(rng, h, w, x, base, height):
    """(trunk, canopy) (h, w) bool masks of a tree standing at (x, base)."""
    trunk, canopy = _blank(h, w), _blank(h, w)
    half_width = max(1, round(0.04 * height))
    top_left = (round(x) - half_width, round(base - 0.5 * height))
    cv2.rectangle(trunk, top_left, (round(x) + half_width, round(base)), 1, -1)
    for _ in range(int(rng.integers(2, 5))):
        centre = (round(x + rng.uniform(-0.15, 0.15) * height), round(base - rng.uniform(0.6, 0.8) * height))
        cv2.circle(canopy, centre, max(2, round(rng.uniform(0.15, 0.25) * height)), 1, -1)
    return trunk.astype(bool), canopy.astype(bool)


def _ade_sample(rng, h, w):
    """Return (BGR uint8 image (h, w, 3), uint8 label map (h, w) with values in {0} | ADE_CLASSES)."""
    image = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    _paint(rng, image, label, np.ones((h, w), bool), _WALL)
    if rng.random() < 0.6:  # outdoor: sky above a wavy skyline
        wave = np.sin(xs / w * rng.uniform(2, 12) + rng.uniform(0, 6))
        _paint(rng, image, label, ys < h * (rng.uniform(0.2, 0.45) + rng.uniform(0, 0.08) * wave), _SKY)
    floor_line = h * rng.uniform(0.55, 0.8) + (xs - w / 2) * rng.uniform(-0.25, 0.25)
    _paint(rng, image, label, ys >= floor_line, _FLOOR)
    for _ in range(int(rng.integers(1, 3))):  # clutter labelled "other"
        centre = rng.uniform([0, 0], [w, h])
        polygon = centre + rng.uniform(-1, 1, (int(rng.integers(3, 7)), 2)) * min(h, w) * rng.uniform(0.05, 0.12)
        _paint(rng, image, label, _rasterise(cv2.convexHull(polygon.astype(np.float32))[:, 0], h, w), ADE_OTHER)
    things = ['tree'] * int(rng.integers(0, 3)) + ['person'] * int(rng.integers(0, 3))
    things = things or [str(rng.choice(['tree', 'person']))]
    bases = rng.uniform(0.6 * h, 1.05 * h, len(things))
    for index in np.argsort(bases, kind='stable'):  # far (higher) things first
        x, base = rng.uniform(0.05 * w, 0.95 * w), bases[index]
        height = base * rng.uniform(0.35, 0.6)
        if things[index] == 'person':
            head, torso, legs = _person_masks(h, w, x, base, height)
            _paint(rng, image, label, legs, _PERSON)
            _paint(rng, image, label, torso, _PERSON)
            _paint(rng, image, label, head, _PERSON, _SKIN)
        else:
            trunk, canopy = _tree_masks(rng, h, w, x, base, height)
            _paint(rng, image, label, trunk, _TREE, _BARK)
            _paint(rng, image, label, canopy, _TREE)
    return _finish(rng, image, rng.uniform(3, 6)), label


def _ade_file_stem(split, index):
    return f'{_ADE_SPLIT_NAMES[split][1]}_{index + 1:08d}'


def _ade_files(params):
    files = []
    for split in SPLITS:
        folder = _ADE_SPLIT_NAMES[split][0]
        for index in range(params[f'num_{split}']):
            stem = _ade_file_stem(split, index)
            files += [f'images/{folder}/{stem}.jpg', f'annotations/{folder}/{stem}.png']
    return files


def _write_ade(out_dir, params, progress):
    """Write images and label maps of both splits; returns the per-split summary."""
    h, w = params['image_size']
    summary = {}
    for split in SPLITS:
        folder, prefix = _ADE_SPLIT_NAMES[split]
        image_dir, label_dir = out_dir / 'images' / folder, out_dir / 'annotations' / folder
        for directory, suffix in ((image_dir, '.jpg'), (label_dir, '.png')):
            directory.mkdir(parents=True, exist_ok=True)
            _remove_files(directory, f'{prefix}_*{suffix}')
        images_with = dict.fromkeys([ADE_OTHER, *ADE_CLASSES], 0)
        pixels = dict.fromkeys([ADE_OTHER, *ADE_CLASSES], 0)
        for index in _progress(range(params[f'num_{split}']), f'ade {split}', progress):
            image, label = _ade_sample(_image_rng(params['seed'], 'ade', split, index), h, w)
            stem = _ade_file_stem(split, index)
            _write_image(image_dir / f'{stem}.jpg', image, _JPEG_PARAMS)
            _write_image(label_dir / f'{stem}.png', label)
            values, counts = np.unique(label, return_counts=True)
            for value, count in zip(values.tolist(), counts.tolist()):
                images_with[value] += 1
                pixels[value] += count
        total = params[f'num_{split}'] * h * w
        names = {ADE_OTHER: 'other', **ADE_CLASSES}
        summary[split] = {
            'images': params[f'num_{split}'],
            'images_per_class': {names[v]: n for v, n in images_with.items()},
            'pixel_share': {names[v]: round(n / total, 4) for v, n in pixels.items()},
        }
    return summary


# ----------------------------------------------------------------------------- public API
_WRITERS = {'coco': (_write_coco, _coco_files), 'ade': (_write_ade, _ade_files)}


def _generate(dataset, out_dir, params, progress):
    """Write a dataset and its meta.json (last, so an interrupted run counts as missing)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)
    summary = _WRITERS[dataset][0](out_dir, params, progress)
    meta = {'dataset': dataset, 'version': VERSION, 'params': params, 'summary': summary}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + '\n')
    return meta


def make_coco(out_dir, num_train=200, num_val=50, image_size=256, seed=0, progress=False):
    """Write a COCO-format instance set of shapes and return its meta record.

    Layout: ``out_dir/{train,val}/NNNNNN.jpg`` (BGR JPEG, quality 95, ids from 1),
    ``out_dir/annotations/instances_{train,val}.json`` (polygon segmentation,
    bbox [x, y, w, h] of the visible pixels), ``out_dir/meta.json``.
    ``image_size`` is an int or an (h, w) pair; stale ``NNNNNN.jpg`` files are removed;
    ``progress`` shows a tqdm bar when tqdm is installed.
    """
    return _generate('coco', out_dir, _validated_params(num_train, num_val, image_size, seed), progress)


def make_ade(out_dir, num_train=100, num_val=30, image_size=128, seed=0, progress=False):
    """Write an ADE20K-format semantic set and return its meta record.

    Layout: ``out_dir/images/{training,validation}/ADE_{train,val}_NNNNNNNN.jpg``
    (BGR JPEG, quality 95) and ``out_dir/annotations/.../*.png`` (single-channel uint8,
    0 = other, otherwise a key of ``ADE_CLASSES``), plus ``out_dir/meta.json``.
    ``image_size`` is an int or an (h, w) pair; stale ``ADE_*`` files are removed;
    ``progress`` shows a tqdm bar when tqdm is installed.
    """
    return _generate('ade', out_dir, _validated_params(num_train, num_val, image_size, seed), progress)


_MAKERS = {'coco': make_coco, 'ade': make_ade}


def load_meta(dataset_dir):
    """The meta.json record of a generated dataset dir, or None if missing or unreadable."""
    try:
        return json.loads((Path(dataset_dir) / META_FILE).read_text())
    except (OSError, ValueError):
        return None


def _ensure(dataset, root, force, progress, params):
    make = _MAKERS[dataset]
    root = Path(root) if root is not None else DEFAULT_ROOT / dataset
    defaults = {name: p.default for name, p in inspect.signature(make).parameters.items()
                if name in ('num_train', 'num_val', 'image_size', 'seed')}
    wanted = _validated_params(**{**defaults, **params})
    meta = load_meta(root)
    current = (meta is not None and meta.get('dataset') == dataset and meta.get('version') == VERSION
               and meta.get('params') == wanted
               and all((root / name).is_file() for name in _WRITERS[dataset][1](wanted)))
    if force or not current:
        _generate(dataset, root, wanted, progress)
    return root


def ensure_coco(root=None, force=False, progress=False, **params):
    """Generate the COCO set in root (default DEFAULT_ROOT/coco) unless it is already there.

    ``params`` are make_coco's keyword arguments; the set is regenerated when
    meta.json is missing, records other parameters or version, or files are missing.
    Returns the dataset dir as a Path.
    """
    return _ensure('coco', root, force, progress, params)


def ensure_ade(root=None, force=False, progress=False, **params):
    """Like ensure_coco for the ADE20K-format set (default root DEFAULT_ROOT/ade)."""
    return _ensure('ade', root, force, progress, params)


def ensure_datasets(root=None, which='all', force=False, progress=False, **params):
    """Ensure 'coco', 'ade' or 'all' under root (default DEFAULT_ROOT); returns {name: dir}."""
    if which != 'all' and which not in _MAKERS:
        raise ValueError(f"which must be one of {(*_MAKERS, 'all')}, got {which!r}")
    root = Path(root) if root is not None else DEFAULT_ROOT
    names = list(_MAKERS) if which == 'all' else [which]
    return {name: _ensure(name, root / name, force, progress, params) for name in names}
