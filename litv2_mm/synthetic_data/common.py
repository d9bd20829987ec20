"""Shared parts of the synthetic generators: arguments, random streams, textures,
file writing, progress bars and the meta.json bookkeeping behind the ``ensure_*`` functions.

Every image is drawn from its own ``numpy.random.default_rng((seed, dataset, split, index))``,
so equal parameters give byte-identical json and identical pixels.
"""
import colorsys
import inspect
import json
import math
from pathlib import Path
from typing import Any, Callable, Iterable, Optional, Sequence, Union

import cv2
import numpy as np

VERSION = 1
DEFAULT_ROOT = Path('data', 'generated')
"""Default output root, relative to the current working directory (like ``data/coco/`` in
configs)."""
META_FILE = 'meta.json'
MIN_IMAGE_SIDE = 32
SPLITS = ('train', 'val')
JPEG_PARAMS = (cv2.IMWRITE_JPEG_QUALITY, 95)

_DATASET_TAGS = {'coco': 1, 'ade': 2, 'coco2017': 3, 'ade20k': 4, 'imagenet': 5}
_PARAM_NAMES = ('num_train', 'num_val', 'image_size', 'seed')


# ----------------------------------------------------------------------------- arguments
def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, bool)


def _check_count(name: str, value: Any) -> int:
    if not _is_int(value) or value <= 0:
        raise ValueError(f'{name} must be a positive integer, got {value!r}')
    return int(value)


def _check_size(image_size: Union[int, Sequence[int]]) -> list[int]:
    """Return [h, w] from an int or an (h, w) pair; each side must be >= MIN_IMAGE_SIDE."""
    if _is_int(image_size):
        sides = [image_size, image_size]
    elif isinstance(image_size, (tuple, list)) and len(image_size) == 2:
        sides = list(image_size)
    else:
        raise ValueError(f'image_size must be an int or an (h, w) pair, got {image_size!r}')
    if not all(_is_int(side) and side >= MIN_IMAGE_SIDE for side in sides):
        raise ValueError(f'image_size sides must be integers >= {MIN_IMAGE_SIDE}, '
                         f'got {image_size!r}')
    return [int(side) for side in sides]


def validated_params(num_train: int, num_val: int, image_size: Union[int, Sequence[int]],
                     seed: int) -> dict:
    """Return the json-ready generation parameters, raising ValueError on bad values."""
    if not _is_int(seed) or seed < 0:
        raise ValueError(f'seed must be a non-negative integer, got {seed!r}')
    return {
        'num_train': _check_count('num_train', num_train),
        'num_val': _check_count('num_val', num_val),
        'image_size': _check_size(image_size),
        'seed': int(seed),
    }


# ----------------------------------------------------------------------------- drawing
def image_rng(seed: int, dataset: str, split: str, index: int) -> np.random.Generator:
    """The random stream of one image."""
    return np.random.default_rng([seed, _DATASET_TAGS[dataset], SPLITS.index(split), index])


def hsv_to_bgr(hue: float, saturation: float, value: float) -> np.ndarray:
    """(3,) float32 BGR in 0..255 from HSV components in 0..1 (hue wraps)."""
    red, green, blue = colorsys.hsv_to_rgb(hue % 1.0, saturation, value)
    return np.array([blue, green, red], np.float32) * 255


def smooth_noise(rng: np.random.Generator, h: int, w: int, cells: int) -> np.ndarray:
    """(h, w) float32 noise in about [-1, 1]: a cells x cells grid upsampled bicubically."""
    grid = rng.uniform(-1, 1, (cells, cells)).astype(np.float32)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_CUBIC)


def stripes(rng: np.random.Generator, h: int, w: int, angle_range: Sequence[float],
            period_range: Sequence[float]) -> np.ndarray:
    """(h, w) float32 sine stripes in [-1, 1]; the wave runs along a random angle (radians)."""
    angle = rng.uniform(*angle_range)
    period = rng.uniform(*period_range)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = (xs * math.cos(angle) + ys * math.sin(angle)) / period
    return np.sin(2 * math.pi * phase + rng.uniform(0, 2 * math.pi)).astype(np.float32)


def finish(rng: np.random.Generator, image: np.ndarray, noise_sigma: float) -> np.ndarray:
    """Add pixel noise to a float (h, w, 3) image and return it as BGR uint8."""
    image = image + rng.normal(0, noise_sigma, image.shape).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def rasterise(polygon: np.ndarray, h: int, w: int) -> np.ndarray:
    """(h, w) bool mask of a float (N, 2) (x, y) polygon (sub-pixel vertices)."""
    canvas = np.zeros((h, w), np.uint8)
    cv2.fillPoly(canvas, [np.rint(polygon * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
    return canvas.astype(bool)


# ----------------------------------------------------------------------------- files
def write_image(path: Union[str, Path], array: np.ndarray, params: Sequence[int] = ()) -> None:
    if not cv2.imwrite(str(path), array, list(params)):
        raise OSError(f'cv2 could not write {path}')


def remove_files(directory: Path, pattern: str) -> None:
    for path in directory.glob(pattern):
        path.unlink()


def progress_bar(iterable: Iterable, desc: str, enabled: bool) -> Iterable:
    """``iterable`` wrapped in a tqdm bar when enabled and tqdm is installed."""
    if enabled:
        try:
            from tqdm import tqdm
        except ImportError:
            return iterable
        return tqdm(iterable, desc=desc, unit='img')
    return iterable


# ----------------------------------------------------------------------------- meta.json
def load_meta(dataset_dir: Union[str, Path]) -> Optional[dict]:
    """The meta.json record of a generated dataset dir, or None if missing or unreadable."""
    try:
        return json.loads((Path(dataset_dir) / META_FILE).read_text())
    except (OSError, ValueError):
        return None


def generate(dataset: str, out_dir: Union[str, Path], params: dict,
             write: Callable[[Path, dict, bool], dict], progress: bool) -> dict:
    """Run ``write(out_dir, params, progress) -> summary``, then write meta.json (last, so an
    interrupted run counts as missing); returns the meta record."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / META_FILE).unlink(missing_ok=True)
    summary = write(out_dir, params, progress)
    meta = {'dataset': dataset, 'version': VERSION, 'params': params, 'summary': summary}
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + '\n')
    return meta


def ensure(dataset: str, root: Optional[Union[str, Path]], make: Callable[..., dict],
           expected_files: Callable[[dict], list[str]], force: bool, progress: bool,
           params: dict) -> Path:
    """Call ``make(root, progress=..., **params)`` unless root's meta.json records the same
    dataset, version and parameters (``make``'s defaults filled in) and every path of
    ``expected_files(params)`` exists; returns root as a Path."""
    root = Path(root) if root is not None else DEFAULT_ROOT / dataset
    defaults = {name: p.default for name, p in inspect.signature(make).parameters.items()
                if name in _PARAM_NAMES}
    wanted = validated_params(**{**defaults, **params})
    meta = load_meta(root)
    current = (meta is not None and meta.get('dataset') == dataset
               and meta.get('version') == VERSION
               and meta.get('params') == wanted
               and all((root / name).is_file() for name in expected_files(wanted)))
    if force or not current:
        make(root, progress=progress, **wanted)
    return root
