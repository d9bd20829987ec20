"""Tests of the ImageNet-layout classification generator."""
import cv2
import numpy as np
import pytest

from litv2_mm.synthetic_data import IMAGENET_CLASSES, make_imagenet

TINY = dict(num_train=3, num_val=2, image_size=(40, 48), seed=0)


@pytest.fixture(scope='module')
def imagenet_dir(generated):
    return generated(make_imagenet, **TINY)


def test_imagenet_layout_and_meta_files(imagenet_dir):
    assert sorted(p.name for p in imagenet_dir.iterdir()) == ['meta', 'meta.json', 'train', 'val']
    train = [line.split()
             for line in (imagenet_dir / 'meta' / 'train.txt').read_text().splitlines()]
    assert train == [[f'{name}/{name}_{n:04d}.JPEG', str(label)]
                     for label, name in enumerate(IMAGENET_CLASSES) for n in range(1, 4)]
    val = [line.split() for line in (imagenet_dir / 'meta' / 'val.txt').read_text().splitlines()]
    assert [path for path, _ in val] == [f'ILSVRC2012_val_{i:08d}.JPEG' for i in range(1, 9)]
    assert sorted(int(label) for _, label in val) == sorted(list(range(4)) * 2)
    assert sorted(p.name for p in (imagenet_dir / 'train').iterdir()) == sorted(IMAGENET_CLASSES)
    for split, entries in (('train', train), ('val', val)):
        files = sorted(p.relative_to(imagenet_dir / split).as_posix()
                       for p in (imagenet_dir / split).rglob('*.JPEG'))
        assert files == sorted(path for path, _ in entries)
        assert cv2.imread(str(imagenet_dir / split / entries[0][0])).shape == (40, 48, 3)


def test_imagenet_is_deterministic(tmp_path, imagenet_dir):
    make_imagenet(tmp_path, **TINY)
    for name in ('meta/train.txt', 'meta/val.txt', 'meta.json'):
        assert (tmp_path / name).read_bytes() == (imagenet_dir / name).read_bytes()
    for path in imagenet_dir.rglob('*.JPEG'):
        other = tmp_path / path.relative_to(imagenet_dir)
        assert np.array_equal(cv2.imread(str(path)), cv2.imread(str(other)))


def test_imagenet_more_images_keep_the_first(tmp_path, imagenet_dir):
    make_imagenet(tmp_path, **{**TINY, 'num_train': 4})
    path = 'train/star/star_0002.JPEG'
    assert (tmp_path / path).read_bytes() == (imagenet_dir / path).read_bytes()


@pytest.mark.parametrize('split, count', [('train', 12), ('val', 8)])
def test_imagenet_loads_in_mmpretrain(imagenet_dir, split, count):
    """mmpretrain's ImageNet dataset with split= and 4 classes, built through the registry."""
    pytest.importorskip('mmpretrain')
    from mmpretrain.registry import DATASETS
    from mmpretrain.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    dataset = DATASETS.build(dict(
        type='mmpretrain.ImageNet', data_root=str(imagenet_dir), split=split,
        metainfo=dict(classes=IMAGENET_CLASSES),
        pipeline=[dict(type='mmpretrain.LoadImageFromFile'), dict(type='mmpretrain.PackInputs')]))
    assert len(dataset) == count and dataset.CLASSES == IMAGENET_CLASSES
    labels = [dataset.get_data_info(i)['gt_label'] for i in range(len(dataset))]
    assert sorted(set(int(label) for label in labels)) == [0, 1, 2, 3]
    item = dataset[0]
    assert tuple(item['inputs'].shape) == (3, 40, 48)
    assert int(item['data_samples'].gt_label) == labels[0]
