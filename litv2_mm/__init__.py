"""litv2_mm: LITv2 / HiLo attention for mmdetection, mmsegmentation and mmpretrain.

``custom_imports=dict(imports=['litv2_mm'], allow_failed_imports=False)`` in a config
registers ``type='LITv2'`` in mmengine's root MODELS registry, and the runner, loop, hooks
and file backend that ``configs/_base_/litv2_runtime.py`` declares. Besides registering,
the import changes one thing in the process: torch's safe-globals allow-list gains the
types mmengine's checkpoints pickle (:data:`litv2_mm.checkpoint.CHECKPOINT_SAFE_GLOBALS`), so
``--resume`` and ``load_from`` work under torch >= 2.6 for every model.
"""
from . import checkpoint, engine  # noqa: F401  (registers the runner, loops, hooks, backend)
from .models import HiLoAttention, LITv2
from .version import __version__

checkpoint.allow_mmengine_checkpoints()

__all__ = ['HiLoAttention', 'LITv2', '__version__']
