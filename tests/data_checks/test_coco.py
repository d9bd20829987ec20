"""A COCO-format file people wrote themselves fails before the dataset is built, naming the
file, the entry and the value: one test per kind of breakage, on a copy of the embedded
synthetic set's train file; degenerate boxes mmdet skips are one warning, not an error."""
import copy
import json
import math
import os

import pytest
from mmengine.config import Config

from litv2_mm.config import set_data_root
from litv2_mm.data_checks import (CocoAnnotationError, check_coco_annotations,
                                  check_dataloader_annotations)

CLASSES = ('circle', 'rectangle', 'triangle', 'star')


@pytest.fixture(scope='module')
def coco_train(coco_root):
    with open(coco_root / 'annotations' / 'instances_train.json') as f:
        return json.load(f)


def write_cfg(tmp_path, coco_root, data, with_mask=True):
    """A config whose train dataset reads ``data`` (written to tmp_path) and the embedded
    set's images."""
    (tmp_path / 'ann.json').write_text(json.dumps(data))
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True, with_mask=with_mask)]
    ds = dict(type='CocoDataset', data_root=str(tmp_path) + '/', ann_file='ann.json',
              data_prefix=dict(img=str(coco_root / 'train') + '/'), metainfo=dict(classes=CLASSES),
              pipeline=pipeline)
    Config(dict(default_scope='mmdet', train_dataloader=dict(dataset=ds))).dump(
        tmp_path / 'my_config.py')
    return Config.fromfile(tmp_path / 'my_config.py')


def first_ann(data):
    return data['annotations'][0]


BREAKAGES = {
    'category_id not a category': (
        lambda d: first_ann(d).update(category_id=9),
        r"category_id is no category of the file: annotation id 1 \(index 0\): category_id 9"),
    'image_id not an image': (
        lambda d: first_ann(d).update(image_id=99999),
        r'image_id is no image of the file: annotation id 1 \(index 0\): image_id 99999'),
    'image_id of another JSON type': (
        lambda d: first_ann(d).update(image_id='1'),
        r"image_id is no image .* image_id '1'.*same JSON type"),
    'duplicate image id': (
        lambda d: d['images'][1].update(id=d['images'][0]['id']),
        r'duplicate image id: image id 1 \(index 1\)'),
    'duplicate annotation id': (
        lambda d: d['annotations'][1].update(id=first_ann(d)['id']),
        r'duplicate annotation id: annotation id 1 \(index 1\)'),
    'image without file_name': (
        lambda d: d['images'][2].pop('file_name'),
        r"image without 'file_name': image id 3 \(index 2\): file_name None"),
    'image without width': (
        lambda d: d['images'][3].pop('width'),
        r'image without a positive width and height: image id 4 \(index 3\): width None'),
    'bbox of 3 numbers': (
        lambda d: first_ann(d).update(bbox=[1, 2, 3]),
        r'bbox that is not 4 finite numbers: annotation id 1 \(index 0\): bbox \[1, 2, 3\]'),
    'bbox holding a string': (
        lambda d: first_ann(d).update(bbox=[1, 2, '30', 4]),
        r"bbox that is not 4 finite numbers: annotation id 1 .*\[1, 2, '30', 4\]"),
    'bbox holding NaN': (
        lambda d: first_ann(d).update(bbox=[1, 2, math.nan, 4]),
        r'bbox that is not 4 finite numbers: annotation id 1 .*\[1, 2, nan, 4\]'),
    'negative bbox width': (
        lambda d: first_ann(d).update(bbox=[50, 50, -10, 20]),
        r'bbox with a negative width or height: annotation id 1 .*\[50, 50, -10, 20\]'),
    'annotation without area': (
        lambda d: first_ann(d).pop('area'),
        r"annotation without 'area': index 0 \(id 1\)"),
    'polygon of 2 points': (
        lambda d: first_ann(d).update(segmentation=[[1, 1, 5, 5]]),
        r'polygon with fewer than 3 points .*annotation id 1 \(index 0\): polygon \[1, 1, 5, 5\]'),
    'polygon of odd length': (
        lambda d: first_ann(d).update(segmentation=[[1, 1, 5, 5, 9, 1, 7]]),
        r'odd number of coordinates: annotation id 1 \(index 0\)'),
    'no segmentation, masks loaded': (
        lambda d: first_ann(d).pop('segmentation'),
        r'annotation without segmentation, in a pipeline that loads masks: annotation id 1'),
    'no categories list': (
        lambda d: d.pop('categories'),
        r"top-level 'categories' missing or not a list"),
    'class given to two categories': (
        lambda d: d['categories'].append(dict(id=5, name='star')),
        r"class name given to more than one category: 'star': ids \[4, 5\]"),
}


@pytest.mark.parametrize('kind', list(BREAKAGES))
def test_broken_coco_entry_is_named_before_the_dataset_is_built(tmp_path, coco_root, coco_train,
                                                                kind):
    damage, message = BREAKAGES[kind]
    data = copy.deepcopy(coco_train)
    damage(data)
    cfg = write_cfg(tmp_path, coco_root, data)
    with pytest.raises(CocoAnnotationError, match=message) as info:
        check_dataloader_annotations(cfg, 'train')
    assert f'train_dataloader: annotation file {tmp_path}/ann.json has entries' in str(info.value)
    assert 'Fix the file' in str(info.value)


def test_all_kinds_are_listed_at_once_with_counts(tmp_path, coco_root, coco_train):
    data = copy.deepcopy(coco_train)
    for ann in data['annotations'][:7]:
        ann['category_id'] = 0
    data['annotations'][10]['bbox'] = None
    with pytest.raises(CocoAnnotationError) as info:
        check_coco_annotations('ann.json', data, CLASSES)
    text = str(info.value)
    assert '7 x annotation whose category_id is no category' in text
    assert text.count('category_id 0') == 5 and ', ...' in text  # 5 examples, then ...
    assert '1 x bbox that is not 4 finite numbers: annotation id 11 (index 10): bbox None' in text


def test_no_masks_loaded_no_segmentation_needed(tmp_path, coco_root, coco_train):
    data = copy.deepcopy(coco_train)
    first_ann(data).pop('segmentation')
    check_dataloader_annotations(write_cfg(tmp_path, coco_root, data, with_mask=False), 'train')


def test_degenerate_boxes_are_one_warning_not_an_error(coco_train):
    data = copy.deepcopy(coco_train)
    anns = data['annotations']
    anns[0]['bbox'] = [10, 10, 0.5, 20]    # narrower than 1 px
    anns[1]['bbox'] = [10, 10, 0, 0]       # zero size
    anns[2]['area'] = 0                    # zero area
    anns[3]['bbox'] = [300, 300, 20, 20]   # outside the 256 x 256 image
    warnings = check_coco_annotations('ann.json', data, CLASSES)
    assert len(warnings) == 1
    assert (f'4 of {len(anns)} boxes mmdet skips (width or height < 1 px, area <= 0 or outside '
            'the image): they do not train (annotation id 1: bbox [10, 10, 0.5, 20]') in warnings[0]
    assert 'id 4: bbox [300, 300, 20, 20], area' in warnings[0]


def test_boxes_written_as_corners_are_a_warning(coco_train):
    data = copy.deepcopy(coco_train)
    for ann in data['annotations']:
        x, y, w, h = ann['bbox']
        ann['bbox'] = [x, y, x + w, y + h]  # [x1, y1, x2, y2]
    warnings = check_coco_annotations('ann.json', data, CLASSES)
    assert any("past the right or bottom edge of the image: if the converter wrote [x1, y1, x2, "
               "y2], COCO's bbox is [x, y, width, height]" in w for w in warnings)


def test_the_embedded_sets_pass_without_warnings(coco_root, coco2017_root):
    for path in [coco_root / 'annotations' / f'instances_{s}.json' for s in ('train', 'val')] + [
            coco2017_root / 'annotations' / f'instances_{s}2017.json' for s in ('train', 'val')]:
        with open(path) as f:
            assert check_coco_annotations(str(path), json.load(f), with_mask=True) == []


def test_mask_rcnn_config_on_broken_data_fails_before_training(tmp_path, repo_root, coco_root,
                                                               coco_train):
    data = copy.deepcopy(coco_train)
    data['annotations'][5]['image_id'] = 12345
    root = tmp_path / 'coco'
    (root / 'annotations').mkdir(parents=True)
    (root / 'annotations' / 'instances_train.json').write_text(json.dumps(data))
    os.symlink(coco_root / 'train', root / 'train')
    cfg = Config.fromfile(f'{repo_root}/configs/mask_rcnn/litv2_s_1x_synthetic.py')
    set_data_root(cfg, str(root))
    with pytest.raises(CocoAnnotationError, match=r'instances_train.json has entries .*\n.*'
                                                  r'annotation id 6 \(index 5\): image_id 12345'):
        check_dataloader_annotations(cfg, 'train')
