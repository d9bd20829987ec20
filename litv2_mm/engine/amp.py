"""Mixed precision on a machine without an accelerator: ``--amp`` and evaluation under CPU
autocast.

mmengine's ``AmpOptimWrapper`` (what ``--amp`` of our and the libraries' ``tools/train.py``
selects) asserts a CUDA, NPU, MLU or MUSA device. :class:`LITv2Runner` builds
:class:`CPUAmpOptimWrapper` in its place where none is present; on a GPU ``--amp`` stays
mmengine's wrapper (fp16 autocast, dynamic loss scale), exactly what mmdet runs.

On a CPU the feature extractor (``extract_feat``: backbone and neck, where nearly all the
arithmetic is) runs under autocast and the heads in fp32 on fp32 features
(:func:`autocast_features`): mmcv's CPU kernels of NMS and RoIAlign, which the detection
heads call, take fp32 only. The default low precision is bf16, which has fp32's exponent
range and needs no loss scaling (``loss_scale`` is ignored then); ``dtype='float16'`` runs
fp16 autocast with PyTorch's CPU ``GradScaler``, whose state goes into every checkpoint as
on a GPU.

Evaluation under autocast (mmengine's ``val_cfg`` / ``test_cfg`` ``fp16=True``) stays
mmengine's on a GPU; on a CPU with native bf16 it runs the feature extractor in bf16
(:class:`CPUAmpValLoop`, :class:`CPUAmpTestLoop`), and on a CPU without it in fp32, with a
warning, since emulated bf16 is slower than fp32 (:func:`inference_amp_config`).
"""
import logging
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence, Union

import torch
import torch.nn as nn
from mmengine.device import is_cuda_available, is_mlu_available, is_musa_available, is_npu_available
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.registry import LOOPS, OPTIM_WRAPPERS
from mmengine.runner import TestLoop, ValLoop
from mmengine.runner.base_loop import BaseLoop
from torch.optim import Optimizer

from ..models.cpu_inference import cpu_bf16

AMP_WRAPPER_TYPES = ('AmpOptimWrapper', AmpOptimWrapper)


def has_amp_accelerator() -> bool:
    """Whether mmengine's ``AmpOptimWrapper`` can run here (CUDA, NPU, MLU or MUSA)."""
    return (is_cuda_available() or is_npu_available() or is_mlu_available()
            or is_musa_available())


def _to_fp32(data: Any) -> Any:
    """Every low-precision floating tensor in a (nested) output cast to fp32."""
    if isinstance(data, torch.Tensor):
        return data.float() if data.is_floating_point() and data.dtype != torch.float64 \
            else data
    if isinstance(data, (list, tuple)):
        return type(data)(_to_fp32(d) for d in data)
    if isinstance(data, dict):
        return type(data)((k, _to_fp32(v)) for k, v in data.items())
    return data


@contextmanager
def autocast_features(model: nn.Module, dtype: torch.dtype = torch.bfloat16,
                      device_type: str = 'cpu') -> Iterator[None]:
    """Inside the block, ``model``'s feature extractor runs under autocast to ``dtype`` and
    hands fp32 features to the rest of the model, which runs without autocast.

    The feature extractor is the ``extract_feat`` method that mmdet's detectors, mmseg's
    segmentors and mmpretrain's classifiers call on their inputs before their heads; for
    the block it is shadowed on this model instance (nothing else, and restored after).
    A model without ``extract_feat`` runs under autocast as a whole.
    """
    inner = model.module if is_model_wrapper(model) else model
    method = getattr(type(inner), 'extract_feat', None)
    if method is None:
        with torch.autocast(device_type, dtype=dtype):
            yield
        return

    def extract_feat(*args: Any, **kwargs: Any) -> Any:
        with torch.autocast(device_type, dtype=dtype):
            return _to_fp32(method(inner, *args, **kwargs))

    shadowed = inner.__dict__.get('extract_feat')
    inner.extract_feat = extract_feat
    try:
        with torch.autocast(device_type, enabled=False):
            yield
    finally:
        if shadowed is None:
            del inner.extract_feat
        else:
            inner.extract_feat = shadowed


def cpu_amp_config(optim_wrapper: Union[dict, Optimizer, OptimWrapper]
                   ) -> Union[dict, Optimizer, OptimWrapper]:
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
              f'precision runs under CPU autocast ({dtype}) with CPUAmpOptimWrapper '
              f'(feature extractor in {dtype}, heads in fp32)', logger='current')
    return cfg


@OPTIM_WRAPPERS.register_module()
class CPUAmpOptimWrapper(AmpOptimWrapper):
    """``AmpOptimWrapper`` under CPU autocast (see :func:`autocast_features`).

    Args:
        loss_scale (str | float | dict): as for ``AmpOptimWrapper``; used with fp16 only
            (bf16 needs no loss scale).
        dtype (str | torch.dtype | None): 'bfloat16' (default) or 'float16'.
        **kwargs: passed to ``OptimWrapper`` (optimizer, clip_grad, accumulative_counts).
    """

    def __init__(self, loss_scale: Union[str, float, dict] = 'dynamic',
                 dtype: Optional[Union[str, torch.dtype]] = None, **kwargs: Any) -> None:
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
        if self.cast_dtype == torch.bfloat16 and cpu_bf16() == 'none':
            raise RuntimeError(
                'CPUAmpOptimWrapper: this CPU has no oneDNN bf16 kernels (they need avx512bw/vl/dq '
                f'or avx_ne_convert; torch sees {torch.backends.cpu.get_cpu_capability()}), so '
                'bf16 autocast cannot run its convolutions: train in fp32 (without --amp) or '
                "set optim_wrapper.dtype='float16' (emulated, slow)")
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
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """The optimizer wrapper's context (gradient accumulation) plus the feature
        extractor under CPU autocast."""
        with OptimWrapper.optim_context(self, model), \
                autocast_features(model, self.cast_dtype):
            yield


class _FeaturesUnderCPUAutocast:
    """Loop mix-in: every iteration's feature extractor under bf16 CPU autocast."""

    def run_iter(self, idx: int, data_batch: Union[dict, Sequence[dict]]) -> None:
        with autocast_features(self.runner.model):
            super().run_iter(idx, data_batch)


@LOOPS.register_module()
class CPUAmpValLoop(_FeaturesUnderCPUAutocast, ValLoop):
    """mmengine's ``ValLoop`` with every iteration's feature extractor under bf16 CPU
    autocast (:func:`autocast_features`): what ``val_cfg.fp16=True`` becomes on a CPU."""


@LOOPS.register_module()
class CPUAmpTestLoop(_FeaturesUnderCPUAutocast, TestLoop):
    """mmengine's ``TestLoop`` with every iteration's feature extractor under bf16 CPU
    autocast (:func:`autocast_features`): what ``test_cfg.fp16=True`` becomes on a CPU."""


def inference_amp_available(device_type: str) -> bool:
    """Whether mixed-precision inference pays off on ``device_type`` ('cuda', 'cpu', ...):
    on a GPU always (fp16), on a CPU only with native bf16 (avx512_bf16 or AMX), without
    which oneDNN emulates bf16 and runs slower than fp32. Logs why when it returns False."""
    if device_type != 'cpu' or cpu_bf16() == 'native':
        return True
    print_log('mixed-precision inference asked for, but this CPU has no native bf16 '
              '(avx512_bf16 or AMX) and would run slower than fp32: running in fp32',
              logger='current', level=logging.WARNING)
    return False


@contextmanager
def inference_autocast(model: nn.Module, device_type: str) -> Iterator[None]:
    """Mixed-precision inference of ``model`` on ``device_type``: on a GPU fp16 autocast
    (as mmengine's ``fp16=True`` loops), on a CPU with native bf16 the feature extractor in
    bf16 (:func:`autocast_features`), on a CPU without it fp32 (with a warning)."""
    if device_type != 'cpu':
        with torch.autocast(device_type, dtype=torch.float16):
            yield
    elif inference_amp_available(device_type):
        with autocast_features(model):
            yield
    else:
        yield


def inference_amp_config(loop_cfg: Union[dict, BaseLoop], device_type: str,
                         default_type: str) -> Union[dict, BaseLoop]:
    """A val / test loop config (``val_cfg`` / ``test_cfg``; ``default_type`` 'ValLoop' /
    'TestLoop', what mmengine builds for a config without ``type``) for this device: with
    ``fp16=True`` on a CPU, mmengine's ``ValLoop`` / ``TestLoop`` become
    :class:`CPUAmpValLoop` / :class:`CPUAmpTestLoop` where the CPU has native bf16, and run
    in fp32 where it has not. Any other config is returned as it is (not modified)."""
    if not isinstance(loop_cfg, dict) or not loop_cfg.get('fp16') or device_type != 'cpu':
        return loop_cfg
    kind = loop_cfg.get('type', default_type)
    cfg = type(loop_cfg)(loop_cfg)
    cfg['fp16'] = False
    if inference_amp_available(device_type):
        if kind in ('ValLoop', ValLoop, 'TestLoop', TestLoop):
            cfg['type'] = 'CPUAmpValLoop' if kind in ('ValLoop', ValLoop) else 'CPUAmpTestLoop'
            print_log(f'fp16=True on a CPU: {cfg["type"]} runs the feature extractor in '
                      f'bf16, the heads in fp32', logger='current')
        else:
            print_log(f'fp16=True with loop type {kind!r} on a CPU: evaluating in fp32 '
                      f'(CPU autocast is provided for ValLoop and TestLoop)',
                      logger='current', level=logging.WARNING)
    return cfg
