"""litv2_mm: LITv2 / HiLo attention for mmdetection, mmsegmentation and mmpretrain.

``custom_imports=dict(imports=['litv2_mm'], allow_failed_imports=False)`` in a config
registers ``type='LITv2'`` in mmengine's root MODELS registry.
"""
from . import datasets, engine  # noqa: F401  (registers transforms, hooks, backends)
from .models import HiLoAttention, LITv2
from .version import __version__

__all__ = ['HiLoAttention', 'LITv2', '__version__']
