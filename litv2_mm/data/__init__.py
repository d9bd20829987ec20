"""Synthetic datasets for demos and tests (see ``litv2_mm.data.synthetic``)."""
from .synthetic import (ADE_CLASSES, ADE_OTHER, COCO_CLASSES, DEFAULT_ROOT, ensure_ade, ensure_coco,
                        ensure_datasets, load_meta, make_ade, make_coco)

__all__ = ['ADE_CLASSES', 'ADE_OTHER', 'COCO_CLASSES', 'DEFAULT_ROOT', 'ensure_ade', 'ensure_coco',
           'ensure_datasets', 'load_meta', 'make_ade', 'make_coco']
