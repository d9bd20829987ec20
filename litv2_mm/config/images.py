"""Images as a config reads them: the image folder of its test (else val) dataset, the image
loading of that dataset's pipeline, the normalisation of its data preprocessor."""
import os.path as osp
from pathlib import Path
from typing import Iterable, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config

from ..data_checks.dataset import CheckedPipeline, leaf_datasets
from .loading import registry_scope

IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(folder: Union[str, Path], limit: Optional[int] = None,
                recursive: bool = True) -> list[str]:
    """Sorted image files (``IMAGE_SUFFIXES``) in ``folder`` (and its subfolders when
    ``recursive``), at most ``limit`` of them, as strings."""
    files = sorted(p for p in Path(folder).glob('**/*' if recursive else '*')
                   if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) '
                                f'{"under" if recursive else "in"} {folder}')
    return [str(p) for p in files[:limit]]


def eval_dataset_cfg(cfg: Config) -> dict:
    """The (first leaf) dataset config of ``cfg``'s test dataloader, else its val one."""
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = next(leaf_datasets((cfg.get(key) or {}).get('dataset')), None)
        if dataset:
            return dataset
    raise ValueError('the config has no test_dataloader or val_dataloader dataset')


def dataset_image_dir(cfg: Config) -> str:
    """Image folder of the config's test (else val) dataset: ``data_root`` joined with the
    image prefix (mmdet ``data_prefix.img``, mmseg ``data_prefix.img_path``, mmpretrain a
    ``data_prefix`` string or the ``split`` name)."""
    dataset = eval_dataset_cfg(cfg)
    prefix = dataset.get('data_prefix') or dataset.get('split') or ''
    if isinstance(prefix, dict):
        prefix = prefix.get('img', prefix.get('img_path', ''))
    return osp.join(dataset.get('data_root') or '', prefix or '')


def normalisation(cfg: Config) -> tuple[list[float], list[float], bool]:
    """(mean, std, rgb) of the config's data preprocessor (``model.data_preprocessor``, or
    mmpretrain's top-level ``data_preprocessor``): per-channel lists and whether the model
    expects RGB (True) or BGR input; (0, 1, True) when the config does not say."""
    pre = cfg.get('model', {}).get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    rgb = pre.get('bgr_to_rgb', pre.get('to_rgb', True))
    return list(pre.get('mean') or [0.] * 3), list(pre.get('std') or [1.] * 3), bool(rgb)


def image_pipeline(cfg: Config, size: Sequence[int]) -> CheckedPipeline:
    """The image loading of the config's test (else val) pipeline (its ``LoadImage...``
    transforms, with their backend and colour settings), then a resize to ``size`` (H, W)
    that does not keep the aspect ratio, as a :class:`CheckedPipeline` (a broken image is
    named). The pipeline's other transforms (annotations, its own resize, packing) are left
    out: only images are read, all at one size."""
    from mmcv.transforms import Compose, Resize
    steps = eval_dataset_cfg(cfg).get('pipeline') or cfg.get('test_pipeline') or []
    loading = [step for step in steps if 'LoadImage' in str(step.get('type'))]
    with registry_scope(cfg):
        return CheckedPipeline(Compose(
            (loading or [dict(type='LoadImageFromFile')])
            + [Resize(scale=(size[1], size[0]), keep_ratio=False)]))


def load_config_images(cfg: Config, paths: Iterable[Union[str, Path]],
                       size: Sequence[int]) -> torch.Tensor:
    """Read ``paths`` with :func:`image_pipeline` and normalise them as the config's data
    preprocessor does (:func:`normalisation`): (N, 3, H, W) float32."""
    pipeline = image_pipeline(cfg, size)
    mean, std, rgb = normalisation(cfg)
    batch = []
    for path in paths:
        img = pipeline(dict(img_path=str(path)))['img'].astype(np.float32)  # BGR, as loaded
        batch.append(img[..., ::-1] if rgb else img)
    images = torch.from_numpy(np.ascontiguousarray(np.stack(batch))).permute(0, 3, 1, 2)
    return (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
