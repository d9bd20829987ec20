"""Distributed training without a GPU (gloo), through mmengine's own launcher path.

mmengine 0.10.7 assumes a GPU under the pytorch launcher: ``init_dist`` calls
``torch.cuda.set_device`` and the DDP wrapper gets ``device_ids=[LOCAL_RANK]``, both of
which fail on a CPU. On a machine with CUDA nothing here changes anything.
"""
import logging
from typing import Any, Optional, Sequence, Union

import torch
import torch.distributed as torch_dist
import torch.nn as nn
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS


@MODEL_WRAPPERS.register_module()
class CPUDistributedDataParallel(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` that accepts a CPU module (``device_ids`` dropped)."""

    def __init__(self, module: nn.Module,
                 device_ids: Optional[Sequence[Union[int, torch.device]]] = None,
                 **kwargs: Any) -> None:
        on_cpu = all(p.device.type == 'cpu' for p in module.parameters())
        super().__init__(module=module, device_ids=None if on_cpu else device_ids, **kwargs)


def _sync_bn_to_bn(node: Any) -> int:
    """Turn every ``norm_cfg=dict(type='SyncBN', ...)`` in a config tree into BN (in place);
    returns how many it changed."""
    changed = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            changed += 1
        for value in node.values():
            changed += _sync_bn_to_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            changed += _sync_bn_to_bn(value)
    return changed


def cpu_wrapper_config(cfg: Union[Config, ConfigDict]) -> dict:
    """The config's ``model_wrapper_cfg`` for :class:`CPUDistributedDataParallel`, with the
    DDP options mmengine gives GPU runs (``Runner.wrap_model`` without a wrapper config:
    ``broadcast_buffers=False``, the config's ``find_unused_parameters``), which a wrapper
    config would otherwise lose: BatchNorm statistics stay per rank, as on GPUs."""
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper['type'] = 'CPUDistributedDataParallel'
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    return wrapper


def prepare_cpu_distributed(cfg: Union[Config, ConfigDict]) -> bool:
    """When a distributed launcher runs on a machine without CUDA, start the process group
    (``env://`` variables from torchrun) with the configured backend, use
    :class:`CPUDistributedDataParallel`, and build SyncBN layers as BN (SyncBN has no CPU
    implementation). Returns True if it did so."""
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return False
    dist_cfg = cfg.get('env_cfg', {}).get('dist_cfg', {})
    backend = dist_cfg.get('backend', 'nccl')
    if backend != 'gloo':
        raise ValueError(f"env_cfg.dist_cfg.backend={backend!r} needs GPUs; without CUDA set "
                         "env_cfg.dist_cfg.backend='gloo'")
    if cfg.launcher != 'pytorch':
        raise ValueError(f"launcher={cfg.launcher!r} without CUDA is not supported; on CPU "
                         "nodes use torchrun (launcher='pytorch', as tools/dist_train.sh does)")
    replaced = _sync_bn_to_bn(cfg.model)
    if replaced:
        print_log(f'SyncBN needs GPUs: {replaced} SyncBN layer configs use BN on this CPU run',
                  logger='current', level=logging.WARNING)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group(backend='gloo')
    cfg.model_wrapper_cfg = cpu_wrapper_config(cfg)
    return True
