"""Safe checkpoint reading: ``weights_only=True`` by default, clear errors, explicit opt-in."""
import os
import os.path as osp
import pickle

import torch

TRUSTED_PREFIX = 'trusted://'
TRUSTED_HINT = (f"If you trust this file, opt in for it alone: prefix its path with "
                f"'{TRUSTED_PREFIX}' (load_from='{TRUSTED_PREFIX}PATH'; for LITv2's init_cfg "
                f"also trusted=True); litv2_mm's tools take --trust-checkpoint.")


def strip_trusted_prefix(path):
    """``'trusted://x.pth'`` -> ``('x.pth', True)``; any other path -> ``(path, False)``."""
    path = str(path)
    if path.startswith(TRUSTED_PREFIX):
        return path[len(TRUSTED_PREFIX):], True
    return path, False


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read; the message names the file and the reason."""


def _download(url):
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


def checkpoint_load_error(filename, error):
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


def load_checkpoint_file(filename, map_location='cpu', trusted=False):
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
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        ckpt = torch.load(filename, map_location=map_location, weights_only=not trusted)
    except Exception as e:  # a broken file fails in many ways (EOFError, zip, KeyError, ...)
        raise checkpoint_load_error(filename, e) from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{filename} holds a {type(ckpt).__name__}, not a dict of weights')
    return ckpt


def state_dict_mismatches(model_state, ckpt_state):
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
