from .config_utils import load_tool_config, set_data_root

__all__ = ['load_tool_config', 'set_data_root']
