from .config_utils import load_tool_config, set_data_root
from .inference import config_scope, init_model, load_config

__all__ = ['config_scope', 'init_model', 'load_config', 'load_tool_config', 'set_data_root']
