"""Checks of semantic segmentation label maps (mmseg's ADE20K-style PNGs of class indices),
run by :class:`~litv2_mm.data_checks.CheckedPipeline` on every label map as it loads and by
:func:`~litv2_mm.data_checks.check_pipelines` on a sample before training:

* :func:`check_label_map_file` (before the map is read): it exists (mmseg pairs images
  and label maps by name: a wrong ``seg_map_suffix`` shows here), and a 16-bit PNG holds
  no value above 255 (mmseg casts label maps to uint8: 256 would become class 0);
* :func:`check_label_map` (the map as mmseg's ``LoadAnnotations`` made it, after
  ``reduce_zero_label`` and the dataset's ``label_map``): one channel (a colour rendering
  is H x W x 3 after mmseg's squeeze; a palette PNG is read as its indices with the
  default ``imdecode_backend='pillow'``, as colours with ``'cv2'``), and every value a
  class index below the number of classes or the dataset's ``ignore_index``;
* :func:`label_sample_warnings` (on the values of the sampled maps): every pixel ignored
  or class 0 (a 0/255 mask), or every class but the last present with
  ``reduce_zero_label=True`` (the 0 of the maps is a class).
"""
import os.path as osp
from pathlib import Path
from typing import Collection, Optional, Sequence, Union

import numpy as np

from .errors import LabelMapError

_PNG_START = b'\x89PNG\r\n\x1a\n'


def check_label_map_file(path: Union[str, Path], image_path: Optional[str] = None) -> None:
    """Raise :class:`LabelMapError` if the local label map ``path`` is missing or a 16-bit
    PNG with values above 255. Paths with a scheme (``s3://``...) are left to their backend.
    Reads 26 bytes of the file (all of it only for a 16-bit PNG)."""
    path = str(path)
    if '://' in path:
        return
    if not osp.isfile(path):
        raise LabelMapError(
            f'label map not found: {path} (for image {image_path}). mmseg pairs each image '
            "with the label map of the same name: check the dataset's seg_map_path prefix and "
            'seg_map_suffix (and img_suffix), or add the label map.')
    with open(path, 'rb') as f:
        head = f.read(26)
    if head.startswith(_PNG_START) and len(head) == 26 and head[24] == 16:
        from PIL import Image
        with Image.open(path) as img:
            top = int(np.asarray(img).max())
        if top > 255:
            raise LabelMapError(
                f'label map {path} is a 16-bit PNG with values up to {top}: mmseg reads label '
                f'maps as 8-bit (uint8), so {top} would become class {top % 256}. Save class '
                'indices 0..254 (255 = ignore) in an 8-bit single-channel PNG.')


def check_label_map(seg: np.ndarray, path: Optional[str], num_classes: Optional[int] = None,
                    ignore_index: int = 255, reduce_zero_label: Optional[bool] = None) -> None:
    """Raise :class:`LabelMapError` if ``seg`` (the loaded ``gt_seg_map`` of label map
    ``path``) is not 2-D, or, given ``num_classes``, holds values that are neither below it
    nor ``ignore_index``. Costs a ``max`` over the map (a full scan only if it fails)."""
    if seg.ndim != 2:
        channels = seg.shape[2] if seg.ndim == 3 else None
        grey = channels and all(np.array_equal(seg[..., 0], seg[..., c])
                                for c in range(1, min(channels, 3)))
        raise LabelMapError(
            f'label map {path} is {"x".join(map(str, seg.shape))} (height x width x '
            f'channels) after loading: mmseg needs one class index per pixel, a single-channel '
            "('L') or palette ('P', read with LoadAnnotations' default imdecode_backend="
            "'pillow') PNG. " + ('Its channels are equal: save one of them.' if grey else
                                 'It looks like a colour rendering: map each colour to its '
                                 'class index (0, 1, ...) and save those.'))
    if num_classes is None:
        return
    top = int(seg.max())
    if top < num_classes:
        return
    bad = np.unique(seg[(seg >= num_classes) & (seg != ignore_index)])
    if not bad.size:
        return
    reduced = (' after reduce_zero_label=True (value v of the file is class v - 1, 0 is '
               'ignored)' if reduce_zero_label else '')
    hint = (' If 0 marks unlabelled pixels in your maps (as in ADE20K), set '
            'reduce_zero_label=True on the dataset.'
            if not reduce_zero_label and int(bad.max()) == num_classes else '')
    raise LabelMapError(
        f'label map {path} holds the values {bad[:10].tolist()}{" ..." if bad.size > 10 else ""}'
        f'{reduced}, but the dataset has {num_classes} classes: every value must be a class '
        f'index 0..{num_classes - 1} or {ignore_index} (ignore_index). In training they index '
        f"past the head's outputs (CUDA: 'device-side assert triggered').{hint} "
        f"{'Otherwise set' if hint else 'Set'} the dataset's classes (metainfo) and the heads' "
        'num_classes to your classes, or fix the label maps.')


def label_sample_warnings(values: Collection[int], classes: Sequence[str], ignore_index: int = 255,
                          reduce_zero_label: bool = False, maps: int = 0,
                          where: str = 'dataset') -> list[str]:
    """Warnings for the set of ``values`` found in ``maps`` sampled label maps (as loaded)
    of a dataset of ``classes``: every pixel ignored or class 0 (a 0/255 mask), or every
    class but the last present while ``reduce_zero_label`` shifts the maps' values down."""
    num = len(classes)
    learned = set(values) - {ignore_index}
    if num < 2 or not values:
        return []
    if reduce_zero_label and learned == set(range(num - 1)):
        return [f'{where}: in {maps} sampled label maps every class but the last '
                f'({num - 1} {classes[-1]!r}) occurs: with reduce_zero_label=True value 0 of '
                'the maps is ignored and value v is class v - 1. If 0 is a class of yours (e.g. '
                "background), set reduce_zero_label=False (the dataset's and LoadAnnotations')."]
    if learned <= {0}:
        return [f'{where}: in {maps} sampled label maps every pixel is '
                + (f'{ignore_index} (ignore_index)' if not learned else
                   f'class 0 {classes[0]!r} or {ignore_index} (ignore_index)')
                + ': nothing else is learned. If your masks mark a class with 255 (a mask '
                'saved as 0/255), save it as its class index (1 for the second class)'
                + (', and note that reduce_zero_label=True ignores value 0'
                   if reduce_zero_label else '') + '.']
    return []
