"""``--amp`` on a machine without an accelerator: mixed precision under CPU autocast.

mmengine's ``AmpOptimWrapper`` (what ``--amp`` of our and the libraries' ``tools/train.py``
selects) asserts a CUDA, NPU, MLU or MUSA device. :class:`LITv2Runner` builds
:class:`CPUAmpOptimWrapper` in its place where none is present; on a GPU ``--amp`` stays
mmengine's wrapper (fp16 autocast, dynamic loss scale), exactly what mmdet runs.

On the CPU the default low precision is bf16, which has fp32's exponent range and needs no
loss scaling (``loss_scale`` is ignored then). ``dtype='float16'`` runs fp16 autocast with
PyTorch's CPU ``GradScaler``, whose state goes into every checkpoint as on a GPU.

Evaluation under autocast (mmengine's ``val_cfg`` / ``test_cfg`` ``fp16=True``, which
mmengine runs in bf16 on a CPU) falls back to fp32, with a warning, on a CPU without native
bf16: :func:`inference_amp_config`.
"""
import logging
from contextlib import contextmanager

import torch
from mmengine.device import (is_cuda_available, is_mlu_available, is_musa_available,
                             is_npu_available)
from mmengine.logging import print_log
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS

AMP_WRAPPER_TYPES = ('AmpOptimWrapper', AmpOptimWrapper)


def has_amp_accelerator():
    """Whether mmengine's ``AmpOptimWrapper`` can run here (CUDA, NPU, MLU or MUSA)."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def cpu_amp_config(optim_wrapper):
    """The optimizer-wrapper config to build on this machine: an ``AmpOptimWrapper``
    config becomes a :class:`CPUAmpOptimWrapper` one where no accelerator is present; any
    other config (or built wrapper) is returned as it is. Does not modify its argument."""
    if (not isinstance(optim_wrapper, dict) or has_amp_accelerator()
            or optim_wrapper.get('type') not in AMP_WRAPPER_TYPES):
        return optim_wrapper
    cfg = type(optim_wrapper)(optim_wrapper)  # a shallow copy, of the same (Config)Dict type
    cfg['type'] = 'CPUAmpOptimWrapper'
    dtype = cfg.get('dtype') or 'bfloat16'
    print_log(f'AmpOptimWrapper needs a GPU (or NPU, MLU, MUSA) and none is present: mixed '
              f'precision runs under CPU autocast ({dtype}) with CPUAmpOptimWrapper',
              logger='current')
    return cfg


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` under CPU autocast.

    Args:
        loss_scale (str | float | dict): as for ``AmpOptimWrapper``; used with fp16 only
            (bf16 needs no loss scale).
        dtype (str | torch.dtype | None): 'bfloat16' (default) or 'float16'.
        **kwargs: passed to ``OptimWrapper`` (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, loss_scale='dynamic', dtype=None, **kwargs):
        kwargs.pop('use_fsdp', None)  # FSDP is a GPU feature
        # AmpOptimWrapper.__init__ asserts an accelerator; it sets nothing but the three
        # attributes below (pinned by tests/engine/test_amp.py), so skip to OptimWrapper's.
        OptimWrapper.__init__(self, **kwargs)
        if isinstance(dtype, str):
            if dtype not in ('bfloat16', 'float16'):
                raise ValueError(f"CPUAmpOptimWrapper: dtype must be 'bfloat16' or "
                                 f"'float16', got {dtype!r}")
            dtype = getattr(torch, dtype)
        self.cast_dtype = dtype or torch.bfloat16
        if self.cast_dtype not in (torch.bfloat16, torch.float16):
            raise ValueError(f'CPUAmpOptimWrapper: dtype must be bfloat16 or float16, got '
                             f'{self.cast_dtype}')
        self._scale_update_param = None
        if self.cast_dtype == torch.bfloat16:
            self.loss_scaler = torch.amp.GradScaler('cpu', enabled=False)  # a no-op
        elif loss_scale == 'dynamic':
            self.loss_scaler = torch.amp.GradScaler('cpu')
        elif isinstance(loss_scale, float):
            self._scale_update_param = loss_scale
            self.loss_scaler = torch.amp.GradScaler('cpu', init_scale=loss_scale)
        elif isinstance(loss_scale, dict):
            self.loss_scaler = torch.amp.GradScaler('cpu', **loss_scale)
        else:
            raise TypeError(f'CPUAmpOptimWrapper: loss_scale must be "dynamic", a float or a '
                            f'dict, got {loss_scale!r}')

    @contextmanager
    def optim_context(self, model):
        """The optimizer wrapper's context (gradient accumulation) plus CPU autocast."""
        with OptimWrapper.optim_context(self, model), \
                torch.autocast('cpu', dtype=self.cast_dtype):
            yield


def inference_amp_available(device_type):
    """Whether mixed-precision inference pays off on ``device_type`` ('cuda', 'cpu', ...):
    on a GPU always (fp16), on a CPU only with native bf16 (avx512_bf16 or AMX), without
    which oneDNN emulates bf16 and runs slower than fp32. Logs why when it returns False."""
    from ..models.cpu_inference import native_bf16
    if device_type != 'cpu' or native_bf16():
        return True
    print_log('mixed-precision inference asked for, but this CPU has no native bf16 '
              '(avx512_bf16 or AMX) and would run slower than fp32: evaluating in fp32',
              logger='current', level=logging.WARNING)
    return False


def inference_amp_config(loop_cfg, device_type):
    """A val / test loop config (``val_cfg`` / ``test_cfg``) with ``fp16=True`` turned off
    where :func:`inference_amp_available` says so; any other config as it is."""
    if not isinstance(loop_cfg, dict) or not loop_cfg.get('fp16'):
        return loop_cfg
    if inference_amp_available(device_type):
        return loop_cfg
    cfg = type(loop_cfg)(loop_cfg)
    cfg['fp16'] = False
    return cfg
