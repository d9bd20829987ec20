from .checks import (CheckedPipeline, DataError, ImageFileError, check_annotation_files,
                     check_dataloader_annotations,
                     check_image_file, check_pipelines, leaf_datasets)

__all__ = ['CheckedPipeline', 'DataError', 'ImageFileError', 'check_annotation_files',
           'check_dataloader_annotations',
           'check_image_file', 'check_pipelines', 'leaf_datasets']
