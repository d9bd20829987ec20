"""Checks of the data a config reads, before and while it trains: annotation files (exist,
parse, COCO entries valid, the config's classes present), the heads' ``num_classes``, the
images and label maps a pipeline loads (named when they fail). Run by
:class:`~litv2_mm.engine.LITv2Runner`; errors are :class:`DataError` subclasses."""
from .coco import check_coco_annotations
from .dataset import (HEAD_KEYS, CheckedPipeline, check_dataloader_annotations,
                      check_dataset_sample, check_head_classes, check_image_file, check_pipelines,
                      head_num_classes, leaf_datasets)
from .errors import (ClassCountError, CocoAnnotationError, DataError, ImageFileError,
                     ImageSizeError, LabelMapError)
from .seg import check_label_map, check_label_map_file, label_sample_warnings

__all__ = ['CheckedPipeline', 'ClassCountError', 'CocoAnnotationError', 'DataError',
           'HEAD_KEYS', 'ImageFileError', 'ImageSizeError', 'LabelMapError',
           'check_coco_annotations', 'check_dataloader_annotations', 'check_dataset_sample',
           'check_head_classes', 'check_image_file', 'check_label_map', 'check_label_map_file',
           'check_pipelines', 'head_num_classes', 'label_sample_warnings', 'leaf_datasets']
