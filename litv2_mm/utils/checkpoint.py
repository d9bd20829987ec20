"""Safe checkpoint reading: ``weights_only=True`` by default, clear errors, explicit opt-in."""
import os
import os.path as osp
import pickle

import torch

TRUSTED_HINT = ('If you trust this file, opt in for it alone: trusted=True '
                "(in a config: init_cfg=dict(type='Pretrained', checkpoint=..., trusted=True); "
                'on the tools: --trust-checkpoint).')


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


def load_checkpoint_file(filename, map_location='cpu', trusted=False):
    """Read a checkpoint (local path or http(s) URL) into a dict.

    Args:
        filename (str): path or URL.
        map_location: as for ``torch.load``.
        trusted (bool): allow arbitrary pickled objects (only for files you trust).

    Raises:
        FileNotFoundError: no such file.
        CheckpointError: truncated or not a checkpoint, or pickled objects refused by the
            safe loader (the message says how to opt in).
    """
    filename = str(filename)
    if filename.startswith(('http://', 'https://')):
        filename = _download(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        ckpt = torch.load(filename, map_location=map_location, weights_only=not trusted)
    except pickle.UnpicklingError as e:
        if not trusted and 'Weights only load failed' in str(e):
            reason = next((line for line in str(e).splitlines() if 'Unsupported global' in line),
                          str(e).splitlines()[0])
            raise CheckpointError(
                f'{filename} pickles objects that the safe loader (weights_only=True) refuses: '
                f'{reason.strip()}. {TRUSTED_HINT}') from e
        raise CheckpointError(f'{filename} is truncated or not a PyTorch checkpoint '
                              f'({type(e).__name__}: {e})') from e
    except Exception as e:  # a broken file fails in many ways (EOFError, zip, KeyError, ...)
        raise CheckpointError(f'{filename} is truncated or not a PyTorch checkpoint '
                              f'({type(e).__name__}: {e})') from e
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'{filename} holds a {type(ckpt).__name__}, not a dict of weights')
    return ckpt
