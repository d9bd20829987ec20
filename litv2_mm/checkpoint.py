"""Everything litv2_mm does with checkpoint files, in one place:

* **safe reading**: ``weights_only=True`` by default, a file that is truncated or not a
  checkpoint named before it is read, the one opt-in per file (``trusted://``), and the
  types mmengine's own checkpoints pickle allowed in torch's safe loader
  (:data:`CHECKPOINT_SAFE_GLOBALS`);
* **the layouts** litv2_mm reads (:func:`checkpoint_state_dict`: the authors' ImageNet,
  COCO and ADE20K files, mmdet / mmseg / mmpretrain runs, bare state dicts) and the loading
  of a backbone's ``init_cfg`` (:func:`load_pretrained_backbone`);
* **the fit report**: every key of a checkpoint that does not fit a model, by name
  (:func:`check_state_dict_fits`);
* **the latest checkpoint** of a run, to resume from (:func:`resume_latest`, with
  mmengine's ``find_latest_checkpoint``).
"""
import os
import os.path as osp
import pickle
import zipfile
from collections import OrderedDict
from typing import Any, Optional

import numpy as np
import torch
import torch.nn as nn
from mmengine.config import Config
from mmengine.logging import HistoryBuffer, MMLogger
from mmengine.runner import find_latest_checkpoint
from mmengine.runner.checkpoint import CheckpointLoader

TRUSTED_PREFIX = 'trusted://'
TRUSTED_HINT = (f"If you trust this file, opt in for it alone: prefix its path with "
                f"'{TRUSTED_PREFIX}' (load_from='{TRUSTED_PREFIX}PATH'; for LITv2's init_cfg "
                f"also trusted=True); litv2_mm's tools take --trust-checkpoint.")


def strip_trusted_prefix(path: str) -> tuple[str, bool]:
    """``'trusted://x.pth'`` -> ``('x.pth', True)``; any other path -> ``(path, False)``."""
    path = str(path)
    if path.startswith(TRUSTED_PREFIX):
        return path[len(TRUSTED_PREFIX):], True
    return path, False


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message names the file and the reason."""


def _download(url: str) -> str:
    """Download ``url`` once into torch hub's checkpoint cache; returns the local path. (Not
    mmengine's ``load_from_http``: it reads the file with ``weights_only=False``.)"""
    from torch.hub import download_url_to_file, get_dir
    cache_dir = osp.join(get_dir(), 'checkpoints')
    os.makedirs(cache_dir, exist_ok=True)
    dst = osp.join(cache_dir, osp.basename(url.split('?')[0]))
    if not osp.exists(dst):
        try:
            download_url_to_file(url, dst, progress=True)
        except Exception as e:  # network errors come in many types
            raise CheckpointError(f'cannot download checkpoint {url}: {e}. Download it elsewhere '
                                  'and pass the local path instead.') from e
    return dst


def checkpoint_load_error(filename: str, error: Exception) -> 'CheckpointError':
    """The :class:`CheckpointError` for ``error`` raised while ``torch.load`` read
    ``filename``: refused by the safe loader (naming the type and the opt-in), or broken."""
    text = str(error)
    if isinstance(error, pickle.UnpicklingError) and 'Weights only load failed' in text:
        reason = next((line for line in text.splitlines() if 'Unsupported global' in line),
                      text.splitlines()[0])
        return CheckpointError(f'{filename} pickles objects that the safe loader '
                               f'(weights_only=True) refuses: {reason.strip()}. {TRUSTED_HINT}')
    return CheckpointError(f'{filename} is truncated or not a PyTorch checkpoint '
                           f'({type(error).__name__}: {error})')


_ZIP_START, _PICKLE_START = b'PK\x03\x04', b'\x80'


def check_checkpoint_file(filename: str) -> None:
    """Raise :class:`CheckpointError` naming ``filename`` if the local file is empty,
    truncated or not a PyTorch checkpoint, without reading it: torch's zip format must end
    with its central directory (the part a truncated copy loses; the whole file is not
    read), the legacy format starts with a pickle. ``FileNotFoundError`` if it does not
    exist. URLs and other schemes (``s3://``...) are left to their loaders; a ``trusted://``
    prefix is looked through."""
    path, _ = strip_trusted_prefix(filename)
    if '://' in path:
        return
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint file not found: {path}')
    with open(path, 'rb') as f:
        head = f.read(4)
    if head.startswith(_ZIP_START):
        if not zipfile.is_zipfile(path):
            raise CheckpointError(f'{path} is truncated: a PyTorch checkpoint (zip) without its '
                                  'central directory (an interrupted copy or download?). Copy '
                                  'it again, or use an earlier checkpoint.')
    elif not head.startswith(_PICKLE_START):
        raise CheckpointError(f'{path} is not a PyTorch checkpoint ('
                              + ('an empty file' if not head else f'it starts with {head!r}')
                              + '): pass the .pth file that torch.save / a training run wrote.')


def load_checkpoint_file(filename: str, map_location: Any = 'cpu',
                         trusted: bool = False) -> dict:
    """Read a checkpoint (local path or http(s) URL) into a dict.

    Args:
        filename (str): path or URL; a ``trusted://`` prefix sets ``trusted``.
        map_location: as for ``torch.load``.
        trusted (bool): allow arbitrary pickled objects (only for files you trust).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: truncated or not a checkpoint, or pickled objects refused by the
            safe loader (the message says how to opt in).
    """
    filename, prefixed = strip_trusted_prefix(filename)
    trusted = trusted or prefixed
    if filename.startswith(('http://', 'https://')):
        filename = _download(filename)
    check_checkpoint_file(filename)
    try:
        ckpt = torch.load(filename, map_location=map_location, weights_only=not trusted)
    except Exception as e:  # a broken file fails in many ways (EOFError, zip, KeyError, ...)
        raise checkpoint_load_error(filename, e) from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{filename} holds a {type(ckpt).__name__}, not a dict of weights')
    return ckpt


# The authors' classifier keys -> mmpretrain's ImageClassifier keys (first match wins).
_AUTHORS_CLASSIFIER = (('head.', 'head.fc.'), ('norm.', 'backbone.norm3.'), ('', 'backbone.'))


def checkpoint_state_dict(ckpt: dict, authors_layouts: bool = True) -> tuple[OrderedDict, str]:
    """The weights of a loaded checkpoint in OpenMMLab's (whole-model) key names, and the
    layout they came in: the one map of the checkpoint layouts litv2_mm reads.

    * ``{'state_dict': ...}`` (mmdet / mmseg / mmpretrain runs, ours, the authors' COCO and
      ADE20K files), or a bare state dict with ``backbone.`` keys: keys as they are;
      layout ``'openmmlab'``.
    * ``{'model': ...}`` (the authors' ImageNet files), or a bare state dict without
      ``backbone.`` keys: the authors' classifier, keys relative to the backbone, its final
      norm ``norm.*`` (LITv2's last stage-output norm) and its classifier ``head.*``; renamed
      ``backbone.*``, ``backbone.norm3.*`` and ``head.fc.*`` as mmpretrain's
      ``ImageClassifier`` names them; layout ``'imagenet'``.

    Only tensors are kept, and a ``module.`` prefix (DataParallel) is stripped.

    Args:
        ckpt (dict): a loaded checkpoint.
        authors_layouts (bool): False reads ``ckpt`` as mmengine's ``load_checkpoint`` loads
            it into a model (its ``state_dict``, else the whole dict, ``module.`` stripped,
            nothing else unwrapped, renamed or left out), to check what mmengine will load.

    Returns:
        (OrderedDict, str): the state dict and the layout (``'openmmlab'`` or ``'imagenet'``).
    """
    wrappers = ('state_dict', 'model') if authors_layouts else ('state_dict', )
    wrapper = next((key for key in wrappers if isinstance(ckpt.get(key), dict)), None)
    state = OrderedDict()
    for key, value in (ckpt[wrapper] if wrapper else ckpt).items():
        if torch.is_tensor(value) or not authors_layouts:
            state[key[len('module.'):] if key.startswith('module.') else key] = value
    if not authors_layouts or wrapper == 'state_dict' or (
            wrapper is None and any(k.startswith('backbone.') for k in state)):
        return state, 'openmmlab'
    mapped = OrderedDict()
    for key, value in state.items():
        old, new = next(rename for rename in _AUTHORS_CLASSIFIER if key.startswith(rename[0]))
        mapped[new + key[len(old):]] = value
    return mapped, 'imagenet'


def state_dict_mismatches(model_state: dict, ckpt_state: dict) -> dict:
    """Compare a checkpoint's state dict with a model's.

    Returns:
        dict: ``shape`` [(key, checkpoint shape, model shape)], ``missing`` (model keys
        the checkpoint lacks) and ``unexpected`` (checkpoint keys the model lacks).
    """
    return dict(
        shape=[(k, tuple(v.shape), tuple(model_state[k].shape)) for k, v in ckpt_state.items()
               if k in model_state and hasattr(v, 'shape') and v.shape != model_state[k].shape],
        missing=[k for k in model_state if k not in ckpt_state],
        unexpected=[k for k in ckpt_state if k not in model_state])


def mismatch_report(found: dict, source: str, max_listed: Optional[int] = None) -> str:
    """The text for a :func:`state_dict_mismatches` result ``found``: a summary naming
    ``source`` and one line per key (both shapes for a shape mismatch), the first
    ``max_listed`` of them (None: all)."""
    lines = [f'  shape mismatch: {k}: checkpoint {got} vs model {want}'
             for k, got, want in found['shape']]
    lines += [f'  missing in checkpoint: {k}' for k in found['missing']]
    lines += [f'  not in model: {k}' for k in found['unexpected']]
    more = len(lines) - max_listed if max_listed is not None else 0
    listed = '\n'.join(lines[:max_listed]) + (f'\n  ... and {more} more' if more > 0 else '')
    return (f"{source} does not fit the model: {len(found['shape'])} shape mismatches, "
            f"{len(found['missing'])} keys missing, {len(found['unexpected'])} keys the "
            f'model does not have:\n{listed}')


class CheckpointMismatchError(RuntimeError):
    """A checkpoint whose tensors do not fit the model."""


def check_state_dict_fits(model: nn.Module, ckpt: dict, source: str, allow_partial: bool = False,
                          logger: Optional[MMLogger] = None, max_listed: int = 20) -> dict:
    """Raise :class:`CheckpointMismatchError` listing every key of the checkpoint ``ckpt``
    (its ``state_dict``, or a bare state dict) that does not fit ``model`` (with both
    shapes), unless ``allow_partial``, in which case the list is logged as a warning. Keys
    are compared as mmengine loads them (:func:`checkpoint_state_dict` with
    ``authors_layouts=False``: a ``module.`` prefix stripped).

    Returns the mismatch dict of :func:`state_dict_mismatches`.
    """
    state, _ = checkpoint_state_dict(ckpt, authors_layouts=False)
    found = state_dict_mismatches(model.state_dict(), state)
    if not any(found.values()):
        return found
    summary = mismatch_report(found, source, max_listed)
    if allow_partial:
        (logger.warning if logger else print)(f'{summary}\n(partial load allowed)')
        return found
    raise CheckpointMismatchError(
        f'{summary}\nIs it the checkpoint of another architecture or number of classes? '
        'To load only what fits on purpose, set allow_partial=True on the CheckpointFitHook '
        '(--allow-partial-load on litv2_mm\'s tools).')


# ---------------------------------------------------------------- torch's safe loader

def _numpy_globals() -> list:
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
dtypes, and ``getattr``, with which a HistoryBuffer pickles its statistics methods
(``getattr(HistoryBuffer, 'mean')``). The safe unpickler calls only allow-listed callables,
so an attribute fetched with ``getattr`` can be stored but never called.

mmengine 0.10.7 pickles its message hub into every checkpoint, so without these the safe
loader (torch >= 2.6) refuses ``--resume`` and ``load_from`` for every model. Importing
``litv2_mm`` adds exactly these (:func:`allow_mmengine_checkpoints`); a file that pickles
anything else is still refused unless opted in with ``trusted://``, which mmengine's
``CheckpointLoader`` resolves like any other scheme (``load_from='trusted://work_dirs/x.pth'``;
the authors' release files pickle a yacs config, for example). mmengine's own loaders stay
as they are."""


def allow_mmengine_checkpoints() -> None:
    """Add :data:`CHECKPOINT_SAFE_GLOBALS` to torch's safe-globals allow-list (idempotent)."""
    torch.serialization.add_safe_globals(CHECKPOINT_SAFE_GLOBALS)


@CheckpointLoader.register_scheme(prefixes=TRUSTED_PREFIX)
def load_trusted_checkpoint(filename: str, map_location: Any) -> dict:
    """``trusted://PATH``: load PATH (local file or URL) with ``weights_only=False``."""
    return load_checkpoint_file(filename, map_location=map_location, trusted=True)


# ---------------------------------------------------------------- a backbone's init_cfg

def extract_backbone_state_dict(ckpt: dict, prefix: Optional[str] = None
                                ) -> tuple[OrderedDict, list[str]]:
    """Backbone weights from any checkpoint layout of :func:`checkpoint_state_dict` (the
    authors' ImageNet files, mmdet / mmseg / mmpretrain / our runs, a bare state dict).

    Args:
        ckpt (dict): a loaded checkpoint.
        prefix (str | None): keep only keys starting with it and strip it (e.g.
            ``'backbone.'``); None picks ``'backbone.'`` when the file has such keys.

    Returns:
        (OrderedDict, list[str]): backbone state dict in LITv2's key names, and the keys
        left aside because they belong to another part of the model (necks, heads).
    """
    state, _ = checkpoint_state_dict(ckpt)
    if prefix is None:
        prefix = 'backbone.' if any(k.startswith('backbone.') for k in state) else ''
    others = [k for k in state if not k.startswith(prefix)]
    return OrderedDict((k[len(prefix):], v) for k, v in state.items()
                       if k.startswith(prefix)), others


def load_backbone_state_dict(model: nn.Module, state: dict, logger: Optional[MMLogger] = None,
                             source: str = 'checkpoint') -> dict:
    """Load ``state`` into ``model`` non-strictly and report every key that did not load
    (:func:`mismatch_report`, all keys listed, as a warning).

    Returns:
        dict with lists ``missing``, ``unexpected`` and ``shape_mismatch`` (key, ckpt shape,
        model shape).
    """
    found = state_dict_mismatches(model.state_dict(), state)
    left_out = {k for k, _, _ in found['shape']} | set(found['unexpected'])
    loadable = OrderedDict((k, v) for k, v in state.items() if k not in left_out)
    model.load_state_dict(loadable, strict=False)
    if any(found.values()):
        (logger.warning if logger else print)(
            f'[LITv2] {mismatch_report(found, source)}\n(the {len(loadable)} tensors that fit '
            'are loaded; missing keys keep their initialisation)')
    elif logger is not None:
        logger.info(f'[LITv2] {source}: all {len(loadable)} backbone tensors loaded')
    return dict(missing=found['missing'], unexpected=found['unexpected'],
                shape_mismatch=found['shape'])


def load_pretrained_backbone(model: nn.Module, init_cfg: dict,
                             logger: Optional[MMLogger] = None) -> dict:
    """Apply ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=None, trusted=False)``
    to the backbone ``model``; returns :func:`load_backbone_state_dict`'s report."""
    unknown = set(init_cfg) - {'type', 'checkpoint', 'prefix', 'trusted', 'map_location'}
    if unknown:
        raise ValueError(f'LITv2 init_cfg: unknown keys {sorted(unknown)}')
    if 'checkpoint' not in init_cfg:
        raise ValueError("LITv2 init_cfg of type 'Pretrained' needs a 'checkpoint' path or URL")
    path = init_cfg['checkpoint']
    ckpt = load_checkpoint_file(path, map_location=init_cfg.get('map_location', 'cpu'),
                                trusted=init_cfg.get('trusted', False))
    state, others = extract_backbone_state_dict(ckpt, init_cfg.get('prefix'))
    if not state:
        raise ValueError(f'{path}: no backbone weights found (prefix={init_cfg.get("prefix")!r}); '
                         f'first keys: {list(ckpt)[:5]}')
    if others and logger is not None:
        logger.info(f'[LITv2] {path}: {len(others)} non-backbone tensors left to their own '
                    f'modules (e.g. {others[0]})')
    return load_backbone_state_dict(model, state, logger, source=path)


# ---------------------------------------------------------------- the latest checkpoint

def resume_latest(cfg: Config) -> Optional[str]:
    """``--resume`` without a path, for a run that may or may not have started before
    (a requeued slurm job, a restarted torchrun worker): resume from the latest checkpoint
    in ``cfg.work_dir`` (the one its ``last_checkpoint`` names, mmengine's
    ``find_latest_checkpoint``) if there is one (``cfg.resume=True``, ``cfg.load_from=None``),
    else start as configured (``cfg.resume=False``, ``load_from`` kept, e.g. the weights a
    fine-tuning starts from). In place; returns the checkpoint or None."""
    found = find_latest_checkpoint(cfg.work_dir) or None
    if found:
        cfg.resume, cfg.load_from = True, None
    else:
        cfg.resume = False
    return found
