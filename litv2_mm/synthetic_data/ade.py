"""ADE20K-format semantic sets: simple scenes of wall / sky / floor regions with trees and
persons. Label values follow ADE20K (0 = other, 1..150 = 1-based ADE20K class), see
``ADE_CLASSES``."""
import math
from pathlib import Path
from typing import Any, NamedTuple, Optional, Sequence, Union

import cv2
import numpy as np

from .common import (JPEG_PARAMS, SPLITS, ensure, finish, generate, hsv_to_bgr, image_rng,
                     progress_bar, rasterise, remove_files, smooth_noise, stripes, validated_params,
                     write_image)

_WALL, _SKY, _FLOOR, _TREE, _PERSON = 1, 3, 4, 5, 13  # ADE20K's 1-based class ids
ADE_CLASSES = {_WALL: 'wall', _SKY: 'sky', _FLOOR: 'floor', _TREE: 'tree', _PERSON: 'person'}
"""Label value in the PNG maps -> ADE20K class name (values are ADE20K's 1-based ids)."""
ADE_OTHER = 0
"""Label value of unlabelled "other" pixels (ignored with reduce_zero_label=True)."""
ADE20K_DIR = 'ADEChallengeData2016'
"""The folder of the ADE20K layout set below its root, as in mmseg's configs."""

_SPLIT_NAMES = {'train': ('training', 'ADE_train'), 'val': ('validation', 'ADE_val')}


class _Style(NamedTuple):
    """Colour tendency and texture of one label value."""
    hue: tuple
    saturation: tuple
    brightness: tuple
    noise_cells: int          # smooth-noise grid cells across a 128 px side
    noise_amplitude: float
    stripe_angles: tuple | None  # radians; None = no stripes
    vertical_gradient: float  # brightening towards the bottom, 0..255


_STYLES = {
    ADE_OTHER: _Style((0, 1), (0, 1), (0.2, 0.9), 6, 25, (0, math.pi), 0),
    _WALL: _Style((0.05, 0.15), (0.05, 0.3), (0.6, 0.9), 4, 12,
                  (math.pi / 2, math.pi / 2), 0),  # courses
    _SKY: _Style((0.55, 0.62), (0.3, 0.7), (0.75, 1.0), 3, 20, None, 40),
    _FLOOR: _Style((0.05, 0.1), (0.35, 0.65), (0.3, 0.6), 8, 15,
                   (math.pi / 3, 2 * math.pi / 3), 0),  # planks
    _TREE: _Style((0.22, 0.38), (0.5, 0.9), (0.25, 0.6), 26, 35, None, 0),  # leaves
    _PERSON: _Style((0, 1), (0.4, 0.9), (0.3, 0.9), 4, 12, None, 0),  # clothes
}
_SKIN = _Style((0.03, 0.1), (0.3, 0.6), (0.5, 0.9), 4, 8, None, 0)
_BARK = _Style((0.06, 0.1), (0.5, 0.7), (0.2, 0.4), 10, 15, (0, 0), 0)


def _texture(rng: np.random.Generator, h: int, w: int, style: _Style) -> np.ndarray:
    """(h, w, 3) float32 BGR texture following a style."""
    colour = hsv_to_bgr(rng.uniform(*style.hue), rng.uniform(*style.saturation),
                        rng.uniform(*style.brightness))
    cells = max(2, round(style.noise_cells * min(h, w) / 128))
    image = colour + smooth_noise(rng, h, w, cells)[..., None] * style.noise_amplitude
    if style.stripe_angles is not None:
        image += stripes(rng, h, w, style.stripe_angles, (5, 12))[..., None] * rng.uniform(10, 25)
    if style.vertical_gradient:
        image += np.linspace(0, style.vertical_gradient, h, dtype=np.float32)[:, None, None]
    return image.astype(np.float32)


def _paint(rng: np.random.Generator, image: np.ndarray, label: np.ndarray, mask: np.ndarray,
           value: int, style: Optional[_Style] = None) -> None:
    """Fill mask ((h, w) bool) of image with a texture and of label with value, in place."""
    h, w = label.shape
    image[mask] = _texture(rng, h, w, style or _STYLES[value])[mask]
    label[mask] = value


def _blank(h: int, w: int) -> np.ndarray:
    return np.zeros((h, w), np.uint8)


def _person_masks(h: int, w: int, x: float, base: float,
                  height: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
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


def _tree_masks(rng: np.random.Generator, h: int, w: int, x: float, base: float,
                height: float) -> tuple[np.ndarray, np.ndarray]:
    """(trunk, canopy) (h, w) bool masks of a tree standing at (x, base)."""
    trunk, canopy = _blank(h, w), _blank(h, w)
    half_width = max(1, round(0.04 * height))
    top_left = (round(x) - half_width, round(base - 0.5 * height))
    cv2.rectangle(trunk, top_left, (round(x) + half_width, round(base)), 1, -1)
    for _ in range(int(rng.integers(2, 5))):
        centre = (round(x + rng.uniform(-0.15, 0.15) * height),
                  round(base - rng.uniform(0.6, 0.8) * height))
        cv2.circle(canopy, centre, max(2, round(rng.uniform(0.15, 0.25) * height)), 1, -1)
    return trunk.astype(bool), canopy.astype(bool)


def _sample(rng: np.random.Generator, h: int, w: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (BGR uint8 image (h, w, 3), uint8 label map (h, w) with values in
    {0} | ADE_CLASSES)."""
    image = np.zeros((h, w, 3), np.float32)
    label = np.zeros((h, w), np.uint8)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    _paint(rng, image, label, np.ones((h, w), bool), _WALL)
    if rng.random() < 0.6:  # outdoor: sky above a wavy skyline
        wave = np.sin(xs / w * rng.uniform(2, 12) + rng.uniform(0, 6))
        _paint(rng, image, label, ys < h * (rng.uniform(0.2, 0.45) + rng.uniform(0, 0.08) * wave),
               _SKY)
    floor_line = h * rng.uniform(0.55, 0.8) + (xs - w / 2) * rng.uniform(-0.25, 0.25)
    _paint(rng, image, label, ys >= floor_line, _FLOOR)
    for _ in range(int(rng.integers(1, 3))):  # clutter labelled "other"
        centre = rng.uniform([0, 0], [w, h])
        polygon = (centre + rng.uniform(-1, 1, (int(rng.integers(3, 7)), 2)) * min(h, w)
                   * rng.uniform(0.05, 0.12))
        _paint(rng, image, label, rasterise(cv2.convexHull(polygon.astype(np.float32))[:, 0], h, w),
               ADE_OTHER)
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
    return finish(rng, image, rng.uniform(3, 6)), label


def _file_stem(split: str, index: int) -> str:
    return f'{_SPLIT_NAMES[split][1]}_{index + 1:08d}'


def _expected_files(params: dict, prefix: str = '') -> list[str]:
    files = []
    for split in SPLITS:
        folder = _SPLIT_NAMES[split][0]
        for index in range(params[f'num_{split}']):
            stem = _file_stem(split, index)
            files += [f'{prefix}images/{folder}/{stem}.jpg',
                      f'{prefix}annotations/{folder}/{stem}.png']
    return files


def _write(dataset: str, out_dir: Path, params: dict, progress: bool) -> dict:
    """Write images and label maps of both splits into out_dir; returns the per-split summary."""
    h, w = params['image_size']
    summary = {}
    for split in SPLITS:
        folder, prefix = _SPLIT_NAMES[split]
        image_dir, label_dir = out_dir / 'images' / folder, out_dir / 'annotations' / folder
        for directory, suffix in ((image_dir, '.jpg'), (label_dir, '.png')):
            directory.mkdir(parents=True, exist_ok=True)
            remove_files(directory, f'{prefix}_*{suffix}')
        images_with = dict.fromkeys([ADE_OTHER, *ADE_CLASSES], 0)
        pixels = dict.fromkeys([ADE_OTHER, *ADE_CLASSES], 0)
        for index in progress_bar(range(params[f'num_{split}']), f'{dataset} {split}', progress):
            image, label = _sample(image_rng(params['seed'], dataset, split, index), h, w)
            stem = _file_stem(split, index)
            write_image(image_dir / f'{stem}.jpg', image, JPEG_PARAMS)
            write_image(label_dir / f'{stem}.png', label)
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


def make_ade(out_dir: Union[str, Path], num_train: int = 100, num_val: int = 30,
             image_size: Union[int, Sequence[int]] = 128, seed: int = 0,
             progress: bool = False) -> dict:
    """Write an ADE20K-format semantic set and return its meta record.

    Layout: ``out_dir/images/{training,validation}/ADE_{train,val}_NNNNNNNN.jpg``
    (BGR JPEG, quality 95) and ``out_dir/annotations/.../*.png`` (single-channel uint8,
    0 = other, otherwise a key of ``ADE_CLASSES``), plus ``out_dir/meta.json``.
    ``image_size`` is an int or an (h, w) pair; stale ``ADE_*`` files are removed;
    ``progress`` shows a tqdm bar when tqdm is installed.
    """
    params = validated_params(num_train, num_val, image_size, seed)
    return generate('ade', out_dir, params, lambda *args: _write('ade', *args), progress)


def make_ade20k(out_dir: Union[str, Path], num_train: int = 2, num_val: int = 2,
                image_size: Union[int, Sequence[int]] = (512, 683), seed: int = 0,
                progress: bool = False) -> dict:
    """Write the ADE20K scenes in the real ADE20K layout and return the meta record.

    Layout: ``out_dir/ADEChallengeData2016/{images,annotations}/{training,validation}/``
    with files named and valued as in ``make_ade`` (ADE's images are about 683x512);
    ``out_dir/meta.json`` sits next to the ``ADEChallengeData2016`` folder.
    """
    params = validated_params(num_train, num_val, image_size, seed)
    return generate('ade20k', out_dir, params,
                    lambda out, *args: _write('ade20k', Path(out) / ADE20K_DIR, *args), progress)


def ensure_ade(root: Optional[Union[str, Path]] = None, force: bool = False,
               progress: bool = False, **params: Any) -> Path:
    """Like ensure_coco for the ADE20K-format set (default root DEFAULT_ROOT/ade)."""
    return ensure('ade', root, make_ade, _expected_files, force, progress, params)


def ensure_ade20k(root: Optional[Union[str, Path]] = None, force: bool = False,
                  progress: bool = False, **params: Any) -> Path:
    """Like ensure_ade for the ADE20K layout (default root DEFAULT_ROOT/ade20k); returns
    ``root/ADEChallengeData2016``, the ``data_root`` of mmseg's ADE20K configs."""
    root = ensure('ade20k', root, make_ade20k, lambda p: _expected_files(p, f'{ADE20K_DIR}/'),
                  force, progress, params)
    return root / ADE20K_DIR
