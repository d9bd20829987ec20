"""Deterministic synthetic datasets for demos and tests (no downloads; numpy + OpenCV).

* ``coco``: COCO-format instance set of 4 shape classes (``make_coco`` / ``ensure_coco``).
* ``coco2017``: the same shapes in the COCO-2017 layout with the 80 COCO categories.
* ``ade``: ADE20K-format semantic scenes (``make_ade`` / ``ensure_ade``).
* ``ade20k``: the same scenes in the ``ADEChallengeData2016`` layout.
* ``imagenet``: ImageNet-layout classification set of shapes, as mmpretrain reads it.

``ensure_*`` functions write to ``DEFAULT_ROOT/<name>`` (``data/generated``, relative to the
current working directory) unless given a root, and only regenerate when meta.json differs.
"""
from pathlib import Path
from typing import Any, Optional, Union

from .ade import (ADE20K_DIR, ADE_CLASSES, ADE_OTHER, ensure_ade, ensure_ade20k, make_ade,
                  make_ade20k)
from .coco import (COCO2017_CATEGORY_IDS, COCO2017_CLASSES, COCO_CLASSES, ensure_coco,
                   ensure_coco2017, make_coco, make_coco2017)
from .common import DEFAULT_ROOT, load_meta
from .imagenet import IMAGENET_CLASSES, ensure_imagenet, make_imagenet
from .shapes import SHAPE_CLASSES

ENSURE_FUNCTIONS = {'coco': ensure_coco, 'ade': ensure_ade, 'coco2017': ensure_coco2017,
                    'ade20k': ensure_ade20k, 'imagenet': ensure_imagenet}
"""Dataset name -> its ensure function."""


def ensure_datasets(root: Optional[Union[str, Path]] = None, which: str = 'all',
                    force: bool = False, progress: bool = False, **params: Any) -> dict[str, Path]:
    """Ensure one dataset of ENSURE_FUNCTIONS, or 'all', below root (default DEFAULT_ROOT),
    each in ``root/<name>``; returns {name: dataset dir as returned by its ensure function}."""
    if which != 'all' and which not in ENSURE_FUNCTIONS:
        raise ValueError(f"which must be one of {(*ENSURE_FUNCTIONS, 'all')}, got {which!r}")
    root = Path(root) if root is not None else DEFAULT_ROOT
    names = list(ENSURE_FUNCTIONS) if which == 'all' else [which]
    return {name: ENSURE_FUNCTIONS[name](root / name, force, progress, **params) for name in names}


__all__ = ['ADE20K_DIR', 'ADE_CLASSES', 'ADE_OTHER', 'COCO2017_CATEGORY_IDS', 'COCO2017_CLASSES',
           'COCO_CLASSES', 'DEFAULT_ROOT', 'ENSURE_FUNCTIONS', 'IMAGENET_CLASSES', 'SHAPE_CLASSES',
           'ensure_ade', 'ensure_ade20k', 'ensure_coco', 'ensure_coco2017', 'ensure_datasets',
           'ensure_imagenet', 'load_meta', 'make_ade', 'make_ade20k', 'make_coco', 'make_coco2017',
           'make_imagenet']
