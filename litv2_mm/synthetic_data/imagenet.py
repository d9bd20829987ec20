"""An ImageNet-layout classification set: one filled shape per image, 4 classes."""
from pathlib import Path
from typing import Any, Optional, Sequence, Union

import numpy as np

from .common import (JPEG_PARAMS, SPLITS, ensure, finish, generate, image_rng, progress_bar,
                     rasterise, remove_files, validated_params, write_image)
from .shapes import SHAPE_CLASSES, background, fill_shape, shape_polygon

IMAGENET_CLASSES = SHAPE_CLASSES
"""Class names in label order; also the class folder names below ``train/``."""

_SHAPE_SIZE_RANGE = (0.45, 0.85)  # object side as a fraction of the shorter image side


def _sample(rng: np.random.Generator, h: int, w: int, label: int) -> np.ndarray:
    """BGR uint8 (h, w, 3) image of one shape of class index ``label``."""
    image = background(rng, h, w)
    size = min(h, w) * rng.uniform(*_SHAPE_SIZE_RANGE)
    centre = rng.uniform([size / 2, size / 2], [w - size / 2, h - size / 2])
    mask = rasterise(shape_polygon(rng, label, centre, size), h, w)
    fill_shape(rng, image, mask, rng.uniform())
    return finish(rng, image, rng.uniform(3, 8))


def _entries(split: str, count: int) -> list[tuple[str, int, int]]:
    """[(image path relative to the split folder, label, rng index), ...] of a split.

    Train: ``CLASS/CLASS_NNNN.JPEG`` (count per class); val: flat
    ``ILSVRC2012_val_NNNNNNNN.JPEG`` (count per class, labels cycling through the classes).
    Rng indices interleave the classes, so larger counts keep the earlier images.
    """
    num_classes = len(IMAGENET_CLASSES)
    if split == 'train':
        return [(f'{name}/{name}_{n + 1:04d}.JPEG', label, n * num_classes + label)
                for label, name in enumerate(IMAGENET_CLASSES) for n in range(count)]
    return [(f'ILSVRC2012_val_{i + 1:08d}.JPEG', i % num_classes, i)
            for i in range(count * num_classes)]


def _expected_files(params: dict) -> list[str]:
    files = [f'meta/{split}.txt' for split in SPLITS]
    for split in SPLITS:
        files += [f'{split}/{path}' for path, _, _ in _entries(split, params[f'num_{split}'])]
    return files


def _write(out_dir: Path, params: dict, progress: bool) -> dict:
    """Write the images and meta/{train,val}.txt ("path label" lines); returns the summary."""
    h, w = params['image_size']
    (out_dir / 'meta').mkdir(parents=True, exist_ok=True)
    summary = {}
    for split in SPLITS:
        split_dir = out_dir / split
        for folder in (split_dir, *(split_dir / name for name in IMAGENET_CLASSES)):
            folder.mkdir(parents=True, exist_ok=True)
            remove_files(folder, '*.JPEG')
        entries = _entries(split, params[f'num_{split}'])
        for path, label, index in progress_bar(entries, f'imagenet {split}', progress):
            image = _sample(image_rng(params['seed'], 'imagenet', split, index), h, w, label)
            write_image(split_dir / path, image, JPEG_PARAMS)
        (out_dir / 'meta' / f'{split}.txt').write_text(''.join(f'{path} {label}\n'
                                                               for path, label, _ in entries))
        per_class = dict.fromkeys(IMAGENET_CLASSES, 0)
        for _, label, _ in entries:
            per_class[IMAGENET_CLASSES[label]] += 1
        summary[split] = {'images': len(entries), 'per_class': per_class}
    return summary


def make_imagenet(out_dir: Union[str, Path], num_train: int = 4, num_val: int = 2,
                  image_size: Union[int, Sequence[int]] = (72, 96), seed: int = 0,
                  progress: bool = False) -> dict:
    """Write an ImageNet-layout set of shapes (``IMAGENET_CLASSES``) and return its meta record.

    Layout as mmpretrain's ``ImageNet`` reads it: ``out_dir/train/CLASS/CLASS_NNNN.JPEG``,
    ``out_dir/val/ILSVRC2012_val_NNNNNNNN.JPEG`` and ``out_dir/meta/{train,val}.txt``
    ("relative/path.JPEG label" lines), plus ``out_dir/meta.json``. ``num_train`` and
    ``num_val`` count images per class; otherwise like ``make_coco``.
    """
    params = validated_params(num_train, num_val, image_size, seed)
    return generate('imagenet', out_dir, params, _write, progress)


def ensure_imagenet(root: Optional[Union[str, Path]] = None, force: bool = False,
                    progress: bool = False, **params: Any) -> Path:
    """Like ensure_coco for the ImageNet-layout set (default root DEFAULT_ROOT/imagenet)."""
    return ensure('imagenet', root, make_imagenet, _expected_files, force, progress, params)
