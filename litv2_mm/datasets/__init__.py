from .checks import CheckSegMapSize, add_data_checks, check_annotation_files

__all__ = ['CheckSegMapSize', 'add_data_checks', 'check_annotation_files']
