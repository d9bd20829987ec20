"""Checkpoints under torch's safe loader (``torch.load(weights_only=True)``, the default
since torch 2.6).

mmengine 0.10.7 pickles its message hub into every checkpoint: ``HistoryBuffer`` objects
holding numpy arrays, numpy scalars and dtypes. The safe loader refuses those types, so
``--resume`` and ``load_from`` fail for every model. Importing ``litv2_mm`` adds exactly
these types to torch's allow-list of safe globals (:data:`CHECKPOINT_SAFE_GLOBALS`);
a file that pickles anything else is still refused.

A file you trust that pickles other objects (the authors' release files pickle a yacs
config, for example) is opted in one path at a time with the ``trusted://`` prefix, which
mmengine's ``CheckpointLoader`` resolves like any other scheme
(``load_from='trusted://work_dirs/x.pth'``). mmengine's own loaders stay as they are.
"""
import numpy as np
import torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.checkpoint import TRUSTED_PREFIX, load_checkpoint_file


def _numpy_globals():
    """The numpy callables and classes that pickled arrays, scalars and dtypes name: the
    unpickler builds a dtype as an instance of its class (``Float64DType``...), so the
    classes of the numeric dtypes (bool, integers, floats, complex; not object or strings)
    are listed too."""
    try:
        from numpy._core import multiarray  # numpy >= 2
    except ImportError:  # pragma: no cover - numpy 1.x
        from numpy.core import multiarray
    numeric_dtypes = {type(np.dtype(code)) for code in '?bBhHiIlLqQefdgFDG'}
    return [multiarray._reconstruct, multiarray.scalar, np.ndarray, np.dtype,
            *sorted(numeric_dtypes, key=lambda t: t.__name__)]


CHECKPOINT_SAFE_GLOBALS = [HistoryBuffer, getattr, *_numpy_globals()]
"""What mmengine's checkpoints pickle besides tensors and Python containers (read from
``torch.serialization.get_unsafe_globals_in_checkpoint`` of a checkpoint its CheckpointHook
wrote): ``HistoryBuffer`` (the message hub's logs), numpy arrays, scalars and numeric
dtypes, and
``getattr``, with which a HistoryBuffer pickles its statistics methods
(``getattr(HistoryBuffer, 'mean')``). The safe unpickler calls only allow-listed callables,
so an attribute fetched with ``getattr`` can be stored but never called."""


def allow_mmengine_checkpoints():
    """Add :data:`CHECKPOINT_SAFE_GLOBALS` to torch's safe-globals allow-list (idempotent)."""
    torch.serialization.add_safe_globals(CHECKPOINT_SAFE_GLOBALS)


@CheckpointLoader.register_scheme(prefixes=TRUSTED_PREFIX)
def load_trusted_checkpoint(filename, map_location):
    """``trusted://PATH``: load PATH (local file or URL) with ``weights_only=False``."""
    return load_checkpoint_file(filename, map_location=map_location, trusted=True)
