from .config_utils import set_data_root

__all__ = ['set_data_root']
