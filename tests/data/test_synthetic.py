"""Tests of the synthetic COCO / ADE20K-format generators (tiny sets written to tmp_path)."""
import importlib.util
import json
import os
from pathlib import Path

import cv2
import numpy as np
import pytest

from litv2_mm.data import synthetic
from litv2_mm.data.synthetic import (ADE_CLASSES, ADE_OTHER, COCO_CLASSES, DEFAULT_ROOT, ensure_ade, ensure_coco,
                                     ensure_datasets, load_meta, make_ade, make_coco)

COCO_SIZE = (72, 96)  # (h, w), non-square on purpose
ADE_SIZE = (48, 64)
TINY = dict(num_train=6, num_val=3, seed=0)


@pytest.fixture(scope='module')
def coco_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('coco')
    make_coco(out, image_size=COCO_SIZE, **TINY)
    return out


@pytest.fixture(scope='module')
def ade_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp('ade')
    make_ade(out, image_size=ADE_SIZE, **TINY)
    return out


def polygon_area(flat):
    """Shoelace area of a flat [x1, y1, x2, y2, ...] polygon."""
    xs, ys = np.asarray(flat, float).reshape(-1, 2).T
    return 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))


def read_pixels(folder):
    """{relative path: decoded array} of all images and label maps below folder."""
    return {p.relative_to(folder).as_posix(): cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            for p in sorted(folder.rglob('*')) if p.suffix in ('.jpg', '.png')}


# ----------------------------------------------------------------------------- COCO
@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_json_loads_with_pycocotools(coco_dir, split):
    coco_api = pytest.importorskip('pycocotools.coco')
    coco = coco_api.COCO(str(coco_dir / 'annotations' / f'instances_{split}.json'))
    h, w = COCO_SIZE
    assert sorted(coco.getImgIds()) == list(range(1, TINY[f'num_{split}'] + 1))
    for image in coco.dataset['images']:
        assert (image['height'], image['width']) == (h, w)
        assert image['file_name'] == f"{image['id']:06d}.jpg"
        assert cv2.imread(str(coco_dir / split / image['file_name'])).shape == (h, w, 3)
    assert [(c['id'], c['name']) for c in coco.dataset['categories']] == list(enumerate(COCO_CLASSES, 1))
    annotation_ids = [a['id'] for a in coco.dataset['annotations']]
    assert len(annotation_ids) == len(set(annotation_ids)) >= TINY[f'num_{split}']
    assert all(a['iscrowd'] == 0 for a in coco.dataset['annotations'])


def test_coco_uses_several_categories(coco_dir):
    annotations = json.loads((coco_dir / 'annotations' / 'instances_train.json').read_text())['annotations']
    assert len({a['category_id'] for a in annotations}) > 1


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_polygons_match_bbox_and_area(coco_dir, split):
    mask_utils = pytest.importorskip('pycocotools.mask')
    h, w = COCO_SIZE
    annotations = json.loads((coco_dir / 'annotations' / f'instances_{split}.json').read_text())['annotations']
    for annotation in annotations:
        x, y, box_w, box_h = annotation['bbox']
        assert 0 <= x and 0 <= y and box_w >= 1 and box_h >= 1 and x + box_w <= w and y + box_h <= h
        polygons = annotation['segmentation']
        assert polygons and all(len(p) >= 6 and len(p) % 2 == 0 for p in polygons)
        assert 0.8 * annotation['area'] <= sum(map(polygon_area, polygons)) <= 1.05 * annotation['area']
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))
        assert np.abs(mask_utils.toBbox(rle) - np.array(annotation['bbox'])).max() <= 2
        assert abs(mask_utils.area(rle) - annotation['area']) <= 0.1 * annotation['area']


def test_coco_readable_by_mmdet(coco_dir):
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    dataset = CocoDataset(data_root=str(coco_dir), ann_file='annotations/instances_train.json',
                          data_prefix=dict(img='train/'), metainfo=dict(classes=COCO_CLASSES), pipeline=[])
    annotations = json.loads((coco_dir / 'annotations' / 'instances_train.json').read_text())['annotations']
    instances = [i for index in range(len(dataset)) for i in dataset.get_data_info(index)['instances']]
    assert len(dataset) == TINY['num_train'] and len(instances) == len(annotations)
    assert {i['bbox_label'] for i in instances} <= set(range(len(COCO_CLASSES)))


def test_coco_is_deterministic(tmp_path, coco_dir):
    make_coco(tmp_path / 'again', image_size=COCO_SIZE, **TINY)
    make_coco(tmp_path / 'other_seed', image_size=COCO_SIZE, **{**TINY, 'seed': 1})
    for split in ('train', 'val'):
        name = f'annotations/instances_{split}.json'
        assert (tmp_path / 'again' / name).read_bytes() == (coco_dir / name).read_bytes()
        assert (tmp_path / 'other_seed' / name).read_bytes() != (coco_dir / name).read_bytes()
    first, second = read_pixels(coco_dir), read_pixels(tmp_path / 'again')
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)


# ----------------------------------------------------------------------------- ADE20K
@pytest.mark.parametrize('folder, prefix, count', [('training', 'ADE_train', 6), ('validation', 'ADE_val', 3)])
def test_ade_label_maps(ade_dir, folder, prefix, count):
    images = sorted((ade_dir / 'images' / folder).glob('*.jpg'))
    labels = sorted((ade_dir / 'annotations' / folder).glob('*.png'))
    assert [p.name for p in images] == [f'{prefix}_{i:08d}.jpg' for i in range(1, count + 1)]
    assert [p.stem for p in labels] == [p.stem for p in images]
    seen = set()
    for image_path, label_path in zip(images, labels):
        label = cv2.imread(str(label_path), cv2.IMREAD_UNCHANGED)
        assert label.dtype == np.uint8 and label.shape == ADE_SIZE
        assert cv2.imread(str(image_path)).shape == (*ADE_SIZE, 3)
        seen |= set(np.unique(label).tolist())
    assert seen <= {ADE_OTHER, *ADE_CLASSES}
    assert len(seen & set(ADE_CLASSES)) >= 3


def test_ade_classes_follow_ade20k():
    expected = {1: 'wall', 2: 'building', 3: 'sky', 4: 'floor', 5: 'tree', 13: 'person'}
    assert all(expected.get(value) == name for value, name in ADE_CLASSES.items())


def test_ade_readable_by_mmseg(ade_dir):
    pytest.importorskip('mmseg')
    from mmseg.datasets import ADE20KDataset
    from mmseg.datasets.transforms import LoadAnnotations
    dataset = ADE20KDataset(data_root=str(ade_dir), pipeline=[LoadAnnotations()],
                            data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'))
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


# ----------------------------------------------------------------------------- ensure_* and arguments
def set_old_mtime(paths):
    for path in paths:
        os.utime(path, ns=(10**18, 10**18))


@pytest.mark.parametrize('ensure, image_glob', [(ensure_coco, 'train/*.jpg'), (ensure_ade, 'images/training/*.jpg')])
def test_ensure_reuses_matching_and_regenerates_changed(tmp_path, ensure, image_glob):
    params = dict(num_train=3, num_val=1, image_size=40)
    root = ensure(tmp_path / 'set', **params)
    assert root == tmp_path / 'set' and load_meta(root)['params']['num_train'] == 3
    watched = [root / 'meta.json', *root.glob(image_glob)]
    set_old_mtime(watched)

    assert ensure(root, **params) == root
    assert all(path.stat().st_mtime_ns == 10**18 for path in watched)

    ensure(root, **{**params, 'num_train': 2})
    assert (root / 'meta.json').stat().st_mtime_ns != 10**18
    assert load_meta(root)['params']['num_train'] == 2
    assert len(list(root.glob(image_glob))) == 2  # the stale third image is gone

    removed = sorted(root.glob(image_glob))[0]
    removed.unlink()
    ensure(root, **{**params, 'num_train': 2})
    assert removed.is_file()


def test_ensure_datasets_layout(tmp_path):
    dirs = ensure_datasets(tmp_path, which='all', num_train=1, num_val=1, image_size=32)
    assert dirs == {'coco': tmp_path / 'coco', 'ade': tmp_path / 'ade'}
    assert load_meta(dirs['coco'])['dataset'] == 'coco' and load_meta(dirs['ade'])['dataset'] == 'ade'
    assert DEFAULT_ROOT == Path(synthetic.__file__).resolve().parents[2] / 'data' / 'generated'


@pytest.mark.parametrize('call, argument', [
    (lambda out: make_coco(out, num_train=0), 'num_train'),
    (lambda out: make_ade(out, num_val=-2), 'num_val'),
    (lambda out: make_coco(out, image_size=31), 'image_size'),
    (lambda out: make_ade(out, image_size=(64, 16)), 'image_size'),
    (lambda out: make_coco(out, image_size=(64, 64, 3)), 'image_size'),
    (lambda out: make_coco(out, seed=-1), 'seed'),
    (lambda out: ensure_coco(out, num_train=2.5), 'num_train'),
    (lambda out: ensure_datasets(out, which='voc'), 'which'),
])
def test_bad_arguments_raise_value_error(tmp_path, call, argument):
    with pytest.raises(ValueError, match=argument):
        call(tmp_path / 'out')
    assert not (tmp_path / 'out').exists()


def test_cli_generates_then_reuses(tmp_path, capsys):
    script = Path(synthetic.__file__).resolve().parents[2] / 'tools' / 'data' / 'make_synthetic_data.py'
    spec = importlib.util.spec_from_file_location('make_synthetic_data', script)
    cli = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cli)
    argv = ['--out', str(tmp_path), '--which', 'coco', '--num-train', '2', '--num-val', '1', '--size', '40', '48']
    cli.main(argv)
    assert 'coco (generated)' in capsys.readouterr().out
    cli.main(argv)
    output = capsys.readouterr().out
    assert 'coco (up to date)' in output and 'train: 2 images' in output
    assert load_meta(tmp_path / 'coco')['params']['image_size'] == [40, 48]
