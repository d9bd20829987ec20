from .checks import (CheckedPipeline, DataError, ImageFileError, check_dataloader_annotations,
                     check_image_file, check_pipelines, leaf_datasets)
from .images import (IMAGE_SUFFIXES, dataset_image_dir, list_images, load_config_images,
                     normalisation)

__all__ = ['CheckedPipeline', 'DataError', 'IMAGE_SUFFIXES', 'ImageFileError',
           'check_dataloader_annotations', 'check_image_file', 'check_pipelines',
           'dataset_image_dir', 'leaf_datasets', 'list_images', 'load_config_images',
           'normalisation']
