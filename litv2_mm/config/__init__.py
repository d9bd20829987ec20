"""Configs: loading (:mod:`.loading`) and the images a config reads (:mod:`.images`)."""
from .images import (IMAGE_SUFFIXES, dataset_image_dir, image_pipeline, list_images,
                     load_config_images, normalisation)
from .loading import (SCOPES, config_scope, load_config, load_tool_config, registry_scope,
                      set_data_root, set_hook_args)

__all__ = ['IMAGE_SUFFIXES', 'SCOPES', 'config_scope', 'dataset_image_dir', 'image_pipeline',
           'list_images', 'load_config', 'load_config_images', 'load_tool_config',
           'normalisation', 'registry_scope', 'set_data_root', 'set_hook_args']
