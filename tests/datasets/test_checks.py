"""Broken data is reported with the file name before work is wasted: missing or unparsable
annotation files, categories that lack the config's classes, missing image folders, images
that are missing, empty, truncated or not images, label maps of the wrong size."""
import json
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from litv2_mm.datasets import (CheckedPipeline, DataError, ImageFileError,
                               check_dataloader_annotations, check_pipelines)

CLASSES = ('circle', 'rectangle', 'triangle', 'star')


def coco_cfg(root, classes=CLASSES):
    ds = dict(type='CocoDataset', data_root=str(root) + '/',
              ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
              pipeline=[])
    if classes is not None:
        ds['metainfo'] = dict(classes=classes)
    path = root.parent / 'my_config.py'
    Config(dict(default_scope='mmdet', train_dataloader=dict(dataset=ds))).dump(path)
    return Config.fromfile(path)


@pytest.fixture
def coco_copy(tmp_path, coco_root):
    shutil.copytree(coco_root, tmp_path / 'coco')
    return tmp_path / 'coco'


def test_unparsable_annotation_file_is_named(coco_copy):
    ann = coco_copy / 'annotations' / 'instances_train.json'
    ann.write_text(ann.read_text()[:1000])  # cut mid-way
    with pytest.raises(DataError, match='instances_train.json does not parse'):
        check_dataloader_annotations(coco_cfg(coco_copy), 'train')


def test_missing_annotation_file_and_folder_are_named(coco_copy):
    cfg = coco_cfg(coco_copy)
    check_dataloader_annotations(cfg, 'train')  # intact copy passes
    shutil.rmtree(coco_copy / 'train')
    with pytest.raises(FileNotFoundError, match='train'):
        check_dataloader_annotations(cfg, 'train')
    (coco_copy / 'annotations' / 'instances_train.json').unlink()
    with pytest.raises(FileNotFoundError, match='instances_train.json'):
        check_dataloader_annotations(cfg, 'train')


def test_categories_lacking_config_classes_name_file_classes_and_config(coco_copy):
    with pytest.raises(DataError, match=r"instances_train.json has no category for 1 of the 4 "
                                        r"classes of config \S*my_config.py: \[.hexagon.\]"):
        check_dataloader_annotations(coco_cfg(coco_copy, classes=CLASSES[:3] + ('hexagon',)),
                                     'train')
    # no metainfo: the dataset type's own classes (mmdet's 80 COCO classes) are checked
    with pytest.raises(DataError, match=r"no category for 80 of the 80 classes.*'person'"):
        check_dataloader_annotations(coco_cfg(coco_copy, classes=None), 'train')


def test_evaluator_annotation_file_is_checked_against_the_dataset_classes(coco_copy):
    cfg = coco_cfg(coco_copy)
    cfg.val_dataloader = cfg.train_dataloader
    ann = coco_copy / 'annotations' / 'other.json'
    data = json.loads((coco_copy / 'annotations' / 'instances_train.json').read_text())
    data['categories'] = data['categories'][:2]
    ann.write_text(json.dumps(data))
    cfg.val_evaluator = dict(type='CocoMetric', ann_file=str(ann))
    with pytest.raises(DataError, match=r"val_evaluator: annotation file .*other.json has no "
                                        r"category for 2 of the 4.*\['triangle', 'star'\]"):
        check_dataloader_annotations(cfg, 'val')


def build_coco(root):
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS
    dataset = DATASETS.build(dict(
        type='CocoDataset', data_root=str(root), ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), metainfo=dict(classes=CLASSES),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]))
    return check_pipelines(dataset)


def first_image(root):
    with open(root / 'annotations' / 'instances_train.json') as f:
        return root / 'train' / json.load(f)['images'][0]['file_name']


@pytest.mark.parametrize('damage,reason', [
    (lambda data: b'', 'empty'),
    (lambda data: data[:len(data) // 2], 'truncated'),
    (lambda data: b'this is a text file, not an image' * 10, 'cannot be decoded'),
    (None, 'not found'),
])
def test_broken_image_is_named(coco_copy, damage, reason):
    image = first_image(coco_copy)
    if damage is None:
        image.unlink()
    else:
        image.write_bytes(damage(image.read_bytes()))
    dataset = build_coco(coco_copy)
    assert isinstance(dataset.pipeline, CheckedPipeline)
    with pytest.raises(ImageFileError, match=f'{reason}.*{image.name}|{image.name}.*{reason}'):
        dataset.prepare_data(0)
    dataset.prepare_data(1)  # the other images load


def test_truncated_png_is_named(tmp_path):
    from litv2_mm.datasets import check_image_file
    path = tmp_path / 'x.png'
    Image.fromarray(np.zeros((20, 20, 3), np.uint8)).save(path)
    check_image_file(path)
    path.write_bytes(path.read_bytes()[:-20])
    with pytest.raises(ImageFileError, match='x.png'):
        check_image_file(path)


def test_label_map_of_wrong_size_is_named(tmp_path):
    img, seg = tmp_path / 'a.jpg', tmp_path / 'a.png'
    Image.fromarray(np.zeros((40, 60, 3), np.uint8)).save(img)
    Image.fromarray(np.zeros((30, 60), np.uint8)).save(seg)
    init_default_scope('mmseg')
    import mmseg.datasets  # noqa: F401  (registers LoadAnnotations)
    from mmcv.transforms import Compose
    pipeline = CheckedPipeline(Compose([dict(type='LoadImageFromFile'),
                                        dict(type='mmseg.LoadAnnotations')]))
    with pytest.raises(DataError, match='a.png is 60x30 but image .*a.jpg is 60x40'):
        pipeline(dict(img_path=str(img), seg_map_path=str(seg), reduce_zero_label=False,
                      seg_fields=[]))
    Image.fromarray(np.zeros((40, 60), np.uint8)).save(seg)
    out = pipeline(dict(img_path=str(img), seg_map_path=str(seg), reduce_zero_label=False,
                        seg_fields=[]))
    assert out['gt_seg_map'].shape == (40, 60)
