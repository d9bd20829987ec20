"""Tests of the ADE20K-format generators: the small set and the ADEChallengeData2016 layout."""
import cv2
import numpy as np
import pytest

from litv2_mm.synthetic_data import ADE20K_DIR, ADE_CLASSES, ADE_OTHER, make_ade, make_ade20k

ADE_SIZE = (48, 64)
TINY = dict(num_train=6, num_val=3, seed=0)
TINY_20K = dict(num_train=2, num_val=2, image_size=(64, 85), seed=0)


@pytest.fixture(scope='module')
def ade_dir(generated):
    return generated(make_ade, image_size=ADE_SIZE, **TINY)


@pytest.fixture(scope='module')
def ade20k_dir(generated):
    return generated(make_ade20k, **TINY_20K)


def read_pixels(folder):
    """{relative path: decoded array} of all images and label maps below folder."""
    return {p.relative_to(folder).as_posix(): cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            for p in sorted(folder.rglob('*')) if p.suffix in ('.jpg', '.png')}


def check_label_maps(dataset_dir, folder, prefix, count, size):
    """Assert names, sizes and label values of one split; returns the label values seen."""
    images = sorted((dataset_dir / 'images' / folder).glob('*.jpg'))
    labels = sorted((dataset_dir / 'annotations' / folder).glob('*.png'))
    assert [p.name for p in images] == [f'{prefix}_{i:08d}.jpg' for i in range(1, count + 1)]
    assert [p.stem for p in labels] == [p.stem for p in images]
    seen = set()
    for image_path, label_path in zip(images, labels):
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and label.shape == size
        assert cv2.imread(str(image_path)).shape == (*size, 3)
        seen |= set(np.unique(label).tolist())
    assert seen <= {ADE_OTHER, *ADE_CLASSES}
    return seen


# ----------------------------------------------------------------------------- small set
@pytest.mark.parametrize('folder, prefix, count', [('training', 'ADE_train', 6),
                                                   ('validation', 'ADE_val', 3)])
def test_ade_label_maps(ade_dir, folder, prefix, count):
    seen = check_label_maps(ade_dir, folder, prefix, count, ADE_SIZE)
    assert len(seen & set(ADE_CLASSES)) >= 3


def test_ade_classes_follow_ade20k():
    expected = {1: 'wall', 2: 'building', 3: 'sky', 4: 'floor', 5: 'tree', 13: 'person'}
    assert all(expected.get(value) == name for value, name in ADE_CLASSES.items())


def test_ade_readable_by_mmseg(ade_dir):
    pytest.importorskip('mmseg')
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations
    dataset = ADE20KDataset(data_root=str(ade_dir), pipeline=[LoadAnnotations()],
                            data_prefix=dict(img_path='images/training',
                                             seg_map_path='annotations/training'))
    assert len(dataset) == TINY['num_train']
    for value, name in ADE_CLASSES.items():
        assert dataset.metainfo['classes'][value - 1].strip() == name
    seg_map = dataset[0]['gt_seg_map']  # reduce_zero_label: 0 -> 255, v -> v - 1
    assert set(np.unique(seg_map).tolist()) <= {255, *(v - 1 for v in ADE_CLASSES)}


def test_ade_is_deterministic(tmp_path, ade_dir):
    make_ade(tmp_path / 'again', image_size=ADE_SIZE, **TINY)
    first, second = read_pixels(ade_dir), read_pixels(tmp_path / 'again')
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    assert (tmp_path / 'again' / 'meta.json').read_bytes() == (ade_dir / 'meta.json').read_bytes()


# ---------------------------------------------------------------------- ADEChallengeData2016 layout
def test_ade20k_layout(ade20k_dir):
    assert sorted(p.name for p in ade20k_dir.iterdir()) == [ADE20K_DIR, 'meta.json']
    dataset_dir = ade20k_dir / ADE20K_DIR
    assert sorted(p.name for p in dataset_dir.iterdir()) == ['annotations', 'images']
    size = TINY_20K['image_size']
    seen = check_label_maps(dataset_dir, 'training', 'ADE_train', 2, size)
    seen |= check_label_maps(dataset_dir, 'validation', 'ADE_val', 2, size)
    assert max(seen) <= 150


def test_ade20k_default_size_is_ade_like():
    import inspect
    assert inspect.signature(make_ade20k).parameters['image_size'].default == (512, 683)


def test_ade20k_is_deterministic(tmp_path, ade20k_dir):
    make_ade20k(tmp_path, **TINY_20K)
    first, second = read_pixels(ade20k_dir), read_pixels(tmp_path)
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)
    assert (tmp_path / 'meta.json').read_bytes() == (ade20k_dir / 'meta.json').read_bytes()


@pytest.mark.parametrize('split', ['training', 'validation'])
def test_ade20k_loads_in_mmseg_as_configured(ade20k_dir, split):
    """mmseg's configs/_base_/datasets/ade20k.py dataset, built through the registry."""
    pytest.importorskip('mmseg')
    from mmseg.registry import DATASETS
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    pipeline = [dict(type='mmseg.LoadImageFromFile'),
                dict(type='mmseg.LoadAnnotations', reduce_zero_label=True),
                dict(type='mmseg.PackSegInputs')]
    dataset = DATASETS.build(dict(
        type='mmseg.ADE20KDataset', data_root=str(ade20k_dir / ADE20K_DIR),
        data_prefix=dict(img_path=f'images/{split}', seg_map_path=f'annotations/{split}'),
        pipeline=pipeline))
    assert len(dataset) == 2 and len(dataset.metainfo['classes']) == 150
    item = dataset[0]
    h, w = TINY_20K['image_size']
    assert tuple(item['inputs'].shape) == (3, h, w)
    seg = item['data_samples'].gt_sem_seg.data
    assert tuple(seg.shape) == (1, h, w)
    assert set(seg.unique().tolist()) <= {255, *(v - 1 for v in ADE_CLASSES)}
