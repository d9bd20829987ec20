"""Tests of the COCO-format generators: the 4-class set and the COCO-2017 layout."""
import json

import cv2
import numpy as np
import pytest

from litv2_mm.synthetic_data import (COCO2017_CATEGORY_IDS, COCO2017_CLASSES, COCO_CLASSES,
                                     make_coco, make_coco2017)

COCO_SIZE = (72, 96)  # (h, w), non-square on purpose
TINY = dict(num_train=6, num_val=3, seed=0)
TINY_2017 = dict(num_train=2, num_val=2, image_size=(96, 128), seed=0)


@pytest.fixture(scope='module')
def coco_dir(generated):
    return generated(make_coco, image_size=COCO_SIZE, **TINY)


@pytest.fixture(scope='module')
def coco2017_dir(generated):
    return generated(make_coco2017, **TINY_2017)


def polygon_area(flat):
    """Shoelace area of a flat [x1, y1, x2, y2, ...] polygon."""
    xs, ys = np.asarray(flat, float).reshape(-1, 2).T
    return 0.5 * abs(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1)))


def read_pixels(folder):
    """{relative path: decoded array} of all images below folder."""
    return {p.relative_to(folder).as_posix(): cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
            for p in sorted(folder.rglob('*.jpg'))}


# ----------------------------------------------------------------------------- 4-class set
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
    assert [(c['id'], c['name'])
            for c in coco.dataset['categories']] == list(enumerate(COCO_CLASSES, 1))
    annotation_ids = [a['id'] for a in coco.dataset['annotations']]
    assert len(annotation_ids) == len(set(annotation_ids)) >= TINY[f'num_{split}']
    assert all(a['iscrowd'] == 0 for a in coco.dataset['annotations'])


def test_coco_uses_several_categories(coco_dir):
    annotations = json.loads(
        (coco_dir / 'annotations' / 'instances_train.json').read_text())['annotations']
    assert len({a['category_id'] for a in annotations}) > 1


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco_polygons_match_bbox_and_area(coco_dir, split):
    mask_utils = pytest.importorskip('pycocotools.mask')
    h, w = COCO_SIZE
    annotations = json.loads(
        (coco_dir / 'annotations' / f'instances_{split}.json').read_text())['annotations']
    for annotation in annotations:
        x, y, box_w, box_h = annotation['bbox']
        assert 0 <= x and 0 <= y and box_w >= 1 and box_h >= 1 and x + box_w <= w and y + box_h <= h
        polygons = annotation['segmentation']
        assert polygons and all(len(p) >= 6 and len(p) % 2 == 0 for p in polygons)
        assert (0.8 * annotation['area'] <= sum(map(polygon_area, polygons))
                <= 1.05 * annotation['area'])
        rle = mask_utils.merge(mask_utils.frPyObjects(polygons, h, w))
        assert np.abs(mask_utils.toBbox(rle) - np.array(annotation['bbox'])).max() <= 2
        assert abs(mask_utils.area(rle) - annotation['area']) <= 0.1 * annotation['area']


def test_coco_readable_by_mmdet(coco_dir):
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    dataset = CocoDataset(data_root=str(coco_dir), ann_file='annotations/instances_train.json',
                          data_prefix=dict(img='train/'), metainfo=dict(classes=COCO_CLASSES),
                          pipeline=[])
    annotations = json.loads(
        (coco_dir / 'annotations' / 'instances_train.json').read_text())['annotations']
    instances = [i for index in range(len(dataset))
                 for i in dataset.get_data_info(index)['instances']]
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


# ----------------------------------------------------------------------------- COCO-2017 layout
def test_coco2017_layout_and_file_names(coco2017_dir):
    assert sorted(p.name for p in (coco2017_dir / 'annotations').iterdir()) == [
        'instances_train2017.json', 'instances_val2017.json']
    for split in ('train', 'val'):
        coco = json.loads(
            (coco2017_dir / 'annotations' / f'instances_{split}2017.json').read_text())
        names = [image['file_name'] for image in coco['images']]
        assert names == [f'{i:012d}.jpg' for i in range(1, TINY_2017[f'num_{split}'] + 1)]
        assert sorted(p.name for p in (coco2017_dir / f'{split}2017').iterdir()) == names
        assert all((image['height'], image['width']) == TINY_2017['image_size']
                   for image in coco['images'])
        assert cv2.imread(str(coco2017_dir / f'{split}2017' / names[0])).shape == (
            *TINY_2017['image_size'], 3)


def test_coco2017_has_the_80_real_categories(coco2017_dir):
    categories = json.loads(
        (coco2017_dir / 'annotations' / 'instances_val2017.json').read_text())['categories']
    ids = [c['id'] for c in categories]
    assert len(categories) == 80 and ids == sorted(ids) and ids[0] == 1 and ids[-1] == 90
    assert set(range(1, 91)) - set(ids) == {12, 26, 29, 30, 45, 66, 68, 69, 71, 83}
    assert (tuple(c['name'] for c in categories) == COCO2017_CLASSES
            and tuple(ids) == COCO2017_CATEGORY_IDS)
    assert {c['id']: c['supercategory'] for c in categories}[1] == 'person'
    assert {c['name']: c['supercategory'] for c in categories}['toothbrush'] == 'indoor'


def test_coco2017_classes_match_mmdet():
    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset
    assert tuple(CocoDataset.METAINFO['classes']) == COCO2017_CLASSES


@pytest.mark.parametrize('split', ['train', 'val'])
def test_coco2017_annotations(coco2017_dir, split):
    coco = json.loads((coco2017_dir / 'annotations' / f'instances_{split}2017.json').read_text())
    annotations = coco['annotations']
    assert len(annotations) >= TINY_2017[f'num_{split}']
    assert {a['category_id'] for a in annotations} <= set(COCO2017_CATEGORY_IDS)
    for annotation in annotations:
        assert (annotation['iscrowd'] == 0 and annotation['area'] > 0
                and len(annotation['bbox']) == 4)
        assert annotation['segmentation'] and all(len(p) >= 6 for p in annotation['segmentation'])


def test_coco2017_is_deterministic(tmp_path, coco2017_dir):
    make_coco2017(tmp_path, **TINY_2017)
    for split in ('train', 'val'):
        name = f'annotations/instances_{split}2017.json'
        assert (tmp_path / name).read_bytes() == (coco2017_dir / name).read_bytes()
    first, second = read_pixels(coco2017_dir), read_pixels(tmp_path)
    assert first.keys() == second.keys() and all(np.array_equal(first[k], second[k]) for k in first)


def test_coco2017_loads_in_mmdet_as_configured(coco2017_dir):
    """mmdet's configs/_base_/datasets/coco_instance.py dataset, built through the registry."""
    pytest.importorskip('mmdet')
    from mmdet.registry import DATASETS
    from mmdet.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    pipeline = [dict(type='mmdet.LoadImageFromFile'),
                dict(type='mmdet.LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='mmdet.PackDetInputs')]
    dataset = DATASETS.build(dict(
        type='mmdet.CocoDataset', data_root=f'{coco2017_dir}/',
        ann_file='annotations/instances_train2017.json',
        data_prefix=dict(img='train2017/'), filter_cfg=dict(filter_empty_gt=True, min_size=32),
        pipeline=pipeline))
    assert len(dataset) == TINY_2017['num_train'] and len(dataset.metainfo['classes']) == 80
    item = dataset[0]
    h, w = TINY_2017['image_size']
    assert tuple(item['inputs'].shape) == (3, h, w)
    labels = item['data_samples'].gt_instances.labels
    assert len(labels) > 0 and int(labels.max()) < 80
    assert item['data_samples'].gt_instances.masks.masks.shape[1:] == (h, w)


def test_coco2017_evaluates_with_coco_metric(coco2017_dir):
    """mmdet's CocoMetric on the val annotations: the ground truth as predictions scores AP 1."""
    pytest.importorskip('mmdet')
    import torch
    from mmdet.evaluation import CocoMetric
    from pycocotools import mask as mask_utils
    ann_file = coco2017_dir / 'annotations' / 'instances_val2017.json'
    coco = json.loads(ann_file.read_text())
    metric = CocoMetric(ann_file=str(ann_file), metric=['bbox', 'segm'])
    metric.dataset_meta = dict(classes=COCO2017_CLASSES)
    label_of = {cat_id: index for index, cat_id in enumerate(COCO2017_CATEGORY_IDS)}
    for image in coco['images']:
        annotations = [a for a in coco['annotations'] if a['image_id'] == image['id']]
        h, w = image['height'], image['width']
        masks = [mask_utils.decode(
                     mask_utils.merge(mask_utils.frPyObjects(a['segmentation'], h, w)))
                 for a in annotations]
        boxes = [[x, y, x + bw, y + bh] for x, y, bw, bh in (a['bbox'] for a in annotations)]
        metric.process({}, [dict(img_id=image['id'], ori_shape=(h, w), pred_instances=dict(
            bboxes=torch.tensor(boxes), scores=torch.ones(len(boxes)),
            labels=torch.tensor([label_of[a['category_id']] for a in annotations]),
            masks=torch.from_numpy(np.stack(masks)).bool()))])
    results = metric.evaluate(len(coco['images']))
    assert results['coco/bbox_mAP'] > 0.99 and results['coco/segm_mAP'] > 0.9
