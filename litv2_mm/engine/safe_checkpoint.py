"""Checkpoints that torch's safe loader (``weights_only=True``) reads, and exact resume.

mmengine 0.10.7 pickles its message hub (``HistoryBuffer`` objects, numpy arrays and
scalars) into every checkpoint, which torch >= 2.6 refuses to load by default, so
``--resume`` and ``load_from`` fail. Rather than switching the check off for every file,
``SafeCheckpointHook`` stores those parts as plain tensors / Python types, restores them on
load, and carries the random-number states so a resumed run continues exactly.
Reading goes through :func:`litv2_mm.utils.load_checkpoint_file` (safe by default; a file
passed to :func:`trust_checkpoint` may pickle other objects).
"""
import os.path as osp
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.registry import HOOKS
from mmengine.runner.checkpoint import CheckpointLoader

from ..utils.checkpoint import load_checkpoint_file

_TRUSTED_FILES = set()
_BUFFER_TAG = '__history_buffer__'
_NDARRAY_TAG = '__ndarray__'


def trust_checkpoint(path):
    """Allow pickled objects in this one local checkpoint file."""
    _TRUSTED_FILES.add(osp.realpath(path))


@CheckpointLoader.register_scheme(prefixes='', force=True)
def _load_local_checkpoint(filename, map_location):
    """mmengine's local-file loader, replaced by the safe one with clear errors."""
    return load_checkpoint_file(filename, map_location=map_location,
                                trusted=osp.realpath(filename) in _TRUSTED_FILES)


def to_safe_types(obj):
    """Recursively turn numpy values and HistoryBuffers into types the safe loader reads."""
    if isinstance(obj, HistoryBuffer):
        state = dict(log_history=obj._log_history, count_history=obj._count_history,
                     max_length=obj.max_length)
        return {_BUFFER_TAG: to_safe_types(state)}
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in 'biuf':  # strings / objects: plain lists
            return to_safe_types(obj.tolist())
        return {_NDARRAY_TAG: torch.from_numpy(np.ascontiguousarray(obj)).clone()}
    if isinstance(obj, np.generic):
        return obj.item()
    return _map_containers(obj, to_safe_types)


def _map_containers(obj, fn):
    """Apply ``fn`` to the items of dicts, lists and tuples, keeping their types."""
    if isinstance(obj, dict):
        items = {k: fn(v) for k, v in obj.items()}
        try:
            return type(obj)(items)
        except TypeError:  # e.g. defaultdict
            return items
    if type(obj) in (list, tuple):
        return type(obj)(fn(v) for v in obj)
    return obj


def from_safe_types(obj):
    """Inverse of :func:`to_safe_types`."""
    if isinstance(obj, dict):
        if set(obj) == {_NDARRAY_TAG}:
            return obj[_NDARRAY_TAG].numpy()
        if set(obj) == {_BUFFER_TAG}:
            state = from_safe_types(obj[_BUFFER_TAG])
            buf = HistoryBuffer(max_length=state['max_length'])
            buf._log_history = state['log_history']
            buf._count_history = state['count_history']
            return buf
    return _map_containers(obj, from_safe_types)


def get_rng_states():
    """Python, numpy and torch (CPU and CUDA) random states, as safe types."""
    np_state = np.random.get_state()
    states = dict(python=random.getstate(),
                  numpy=dict(key=torch.from_numpy(np_state[1].astype(np.int64)), pos=np_state[2],
                             has_gauss=np_state[3], cached_gaussian=np_state[4]),
                  torch=torch.get_rng_state())
    if torch.cuda.is_available():
        states['cuda'] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states):
    random.setstate(states['python'])
    np_state = states['numpy']
    np.random.set_state(('MT19937', np_state['key'].numpy().astype(np.uint32), np_state['pos'],
                         np_state['has_gauss'], np_state['cached_gaussian']))
    torch.set_rng_state(states['torch'])
    if 'cuda' in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states['cuda'])


@HOOKS.register_module()
class SafeCheckpointHook(Hook):
    """Write checkpoints the safe loader accepts, read them back, resume exactly.

    The random states saved with a checkpoint are restored at the start of the next
    training epoch / iteration after a resume, where the uninterrupted run would be.
    """

    priority = 'VERY_LOW'

    def __init__(self):
        self._pending_rng = None

    def before_save_checkpoint(self, runner, checkpoint):
        for key in list(checkpoint):
            if key != 'state_dict':
                checkpoint[key] = to_safe_types(checkpoint[key])
        checkpoint['rng_states'] = get_rng_states()

    def after_load_checkpoint(self, runner, checkpoint):
        for key in list(checkpoint):
            if key not in ('state_dict', 'rng_states'):
                checkpoint[key] = from_safe_types(checkpoint[key])
        if getattr(runner, '_resume', False) and 'rng_states' in checkpoint:
            self._pending_rng = checkpoint['rng_states']

    def _restore_rng(self):
        if self._pending_rng is not None:
            set_rng_states(self._pending_rng)
            self._pending_rng = None

    def before_train_epoch(self, runner):
        self._restore_rng()

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._restore_rng()


def enable_safe_checkpoints(cfg, trusted=False):
    """Add :class:`SafeCheckpointHook` and atomic checkpoint writes to a config (in place).

    Args:
        cfg (Config): a training or test config.
        trusted (bool): allow pickled objects in ``cfg.load_from`` (a file you trust).
    """
    hooks = list(cfg.get('custom_hooks', []) or [])
    if not any(h.get('type') in ('SafeCheckpointHook', SafeCheckpointHook) for h in hooks):
        hooks.append(dict(type='SafeCheckpointHook'))
    cfg.custom_hooks = hooks
    ckpt_hook = cfg.get('default_hooks', {}).get('checkpoint')
    if ckpt_hook is not None and not ckpt_hook.get('backend_args'):
        ckpt_hook['backend_args'] = dict(backend='atomic_local')
    if trusted and cfg.get('load_from'):
        trust_checkpoint(cfg.load_from)
    return cfg
