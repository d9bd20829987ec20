"""Broken data is reported with the file name: missing or unparsable annotation files,
missing image folders and images, label maps of the wrong size."""
import json
import os.path as osp
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from PIL import Image

from litv2_mm.datasets import CheckSegMapSize, add_data_checks, check_annotation_files


def coco_cfg(root):
    return Config(dict(default_scope='mmdet', train_dataloader=dict(dataset=dict(
        type='CocoDataset', data_root=str(root) + '/', ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), pipeline=[]))))


def test_unparsable_annotation_file_is_named(tmp_path, coco_root):
    shutil.copytree(coco_root, tmp_path / 'coco')
    ann = tmp_path / 'coco' / 'annotations' / 'instances_train.json'
    ann.write_text(ann.read_text()[:1000])  # cut mid-way
    with pytest.raises(ValueError, match='instances_train.json does not parse'):
        check_annotation_files(coco_cfg(tmp_path / 'coco'))


def test_missing_annotation_file_and_folder_are_named(tmp_path, coco_root):
    shutil.copytree(coco_root, tmp_path / 'coco')
    cfg = coco_cfg(tmp_path / 'coco')
    check_annotation_files(cfg)  # intact copy passes
    shutil.rmtree(tmp_path / 'coco' / 'train')
    with pytest.raises(FileNotFoundError, match='train'):
        check_annotation_files(cfg)
    (tmp_path / 'coco' / 'annotations' / 'instances_train.json').unlink()
    with pytest.raises(FileNotFoundError, match='instances_train.json'):
        check_annotation_files(cfg)


def test_missing_image_is_named(tmp_path, coco_root):
    shutil.copytree(coco_root, tmp_path / 'coco')
    with open(tmp_path / 'coco' / 'annotations' / 'instances_train.json') as f:
        first = json.load(f)['images'][0]['file_name']
    (tmp_path / 'coco' / 'train' / first).unlink()
    from mmdet.registry import DATASETS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet')
    dataset = DATASETS.build(dict(
        type='CocoDataset', data_root=str(tmp_path / 'coco'),
        ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
        metainfo=dict(classes=('circle', 'rectangle', 'triangle', 'star')),
        pipeline=[dict(type='LoadImageFromFile')]))
    with pytest.raises(Exception, match=first):
        dataset.prepare_data(0)


def test_label_map_of_wrong_size_is_named(tmp_path):
    img = np.zeros((40, 60, 3), np.uint8)
    seg = np.zeros((30, 60), np.uint8)
    results = dict(img=img, gt_seg_map=seg, img_path='a.jpg', seg_map_path='a.png')
    with pytest.raises(ValueError, match='a.png.*a.jpg'):
        CheckSegMapSize()(results)
    results['gt_seg_map'] = np.zeros((40, 60), np.uint8)
    assert CheckSegMapSize()(results) is results


def test_check_is_inserted_into_segmentation_pipelines(repo_root):
    cfg = Config.fromfile(osp.join(repo_root, 'configs', 'sem_fpn', 'litv2_s_synthetic.py'))
    add_data_checks(cfg)
    types = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    assert types[types.index('LoadAnnotations') + 1] == 'CheckSegMapSize'
