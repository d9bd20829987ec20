from .checks import (HEAD_KEYS, CheckedPipeline, check_dataloader_annotations, check_dataset_sample,
                     check_head_classes, check_image_file, check_pipelines, head_num_classes,
                     leaf_datasets)
from .coco_checks import check_coco_annotations
from .errors import (ClassCountError, CocoAnnotationError, DataError, ImageFileError,
                     ImageSizeError, LabelMapError)
from .images import (IMAGE_SUFFIXES, dataset_image_dir, list_images, load_config_images,
                     normalisation)
from .seg_checks import check_label_map, check_label_map_file, label_sample_warnings

__all__ = ['CheckedPipeline', 'ClassCountError', 'CocoAnnotationError', 'DataError',
           'HEAD_KEYS', 'IMAGE_SUFFIXES', 'ImageFileError', 'ImageSizeError', 'LabelMapError',
           'check_coco_annotations', 'check_dataloader_annotations', 'check_dataset_sample',
           'check_head_classes', 'check_image_file', 'check_label_map', 'check_label_map_file',
           'check_pipelines', 'dataset_image_dir', 'head_num_classes', 'label_sample_warnings',
           'leaf_datasets', 'list_images', 'load_config_images', 'normalisation']
