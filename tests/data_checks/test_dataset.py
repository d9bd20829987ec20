"""Broken data is reported with the file name before work is wasted: missing or unparsable
annotation files, categories that lack the config's classes, missing image folders, images
that are missing, empty, truncated, not images or of another size than annotated (as they
load, and on a sample before training), label maps of the wrong size, heads with fewer
classes than the dataset. COCO files: test_coco_checks.py; label maps: test_seg_checks.py."""
import json
import shutil

import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from litv2_mm.data_checks import (CheckedPipeline, ClassCountError, DataError, ImageFileError,
                                  ImageSizeError, check_dataloader_annotations, check_head_classes,
                                  check_pipelines)

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


def build_coco(root, sample=0):
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS
    dataset = DATASETS.build(dict(
        type='CocoDataset', data_root=str(root), ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), metainfo=dict(classes=CLASSES),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='PackDetInputs')]))
    return check_pipelines(dataset, sample=sample)


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


def test_broken_image_in_the_sample_fails_before_training(coco_copy):
    image = first_image(coco_copy)
    image.write_bytes(b'')
    with pytest.raises(ImageFileError, match=rf'empty \(0 bytes\): \S*{image.name}.*\[Found '
                                             r'before training, in item 0 of the 32 checked of '
                                             r'the 200 of CocoDataset'):
        build_coco(coco_copy, sample=32)
    build_coco(coco_copy, sample=0)  # not sampled: it fails as it loads (above)


def with_image_size(root, width, height):
    """The first image's width and height in the annotation file set to these."""
    ann = root / 'annotations' / 'instances_train.json'
    data = json.loads(ann.read_text())
    data['images'][0].update(width=width, height=height)
    ann.write_text(json.dumps(data))


def test_image_of_another_size_than_its_annotation_fails(coco_copy):
    with_image_size(coco_copy, 300, 256)  # the image is 256 x 256
    image = first_image(coco_copy)
    with pytest.raises(ImageSizeError, match=rf'image \S*{image.name} decodes to 256x256 but its '
                                             r'annotation file gives it 300x256 \(width x '
                                             r'height\): its boxes and masks would be misplaced'):
        build_coco(coco_copy, sample=0).prepare_data(0)
    with pytest.raises(ImageSizeError, match='Found before training, in item 0'):
        build_coco(coco_copy, sample=32)


def test_image_rotated_by_its_exif_orientation_says_so(coco_copy):
    image = first_image(coco_copy)
    pixels = Image.open(image).convert('RGB').crop((0, 0, 256, 200))  # 256 wide, 200 high
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees to display": decoders turn it to 200 x 256
    pixels.save(image, exif=exif)
    with_image_size(coco_copy, 256, 200)  # annotated as stored
    with pytest.raises(ImageSizeError, match=r'decodes to 200x256 but its annotation file gives '
                                             r'it 256x200 .*The sides are swapped: .*EXIF '
                                             r'orientation'):
        build_coco(coco_copy, sample=0).prepare_data(0)


def test_truncated_png_is_named(tmp_path):
    from litv2_mm.data_checks import check_image_file
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


def test_heads_with_too_few_classes_name_the_key_and_both_numbers(repo_root, coco_root,
                                                                  imagenet_root):
    from litv2_mm.config import set_data_root
    for config, root, key in (
            ('mask_rcnn/litv2_s_1x_synthetic.py', coco_root, 'roi_head.mask_head'),
            ('retinanet/litv2_s_1x_synthetic.py', coco_root, 'bbox_head'),
            ('classification/litv2_s_synthetic.py', imagenet_root, 'head')):
        cfg = Config.fromfile(f'{repo_root}/configs/{config}')
        set_data_root(cfg, str(root))
        check_dataloader_annotations(cfg, 'train')  # as configured: fits
        node = cfg.model
        for part in key.split('.'):
            node = node[part]
        node.num_classes = 3
        with pytest.raises(ClassCountError, match=rf'model.{key}.num_classes is 3 but the '
                                                  r'dataset has 4 classes .*labels 3..3 index '
                                                  rf'past .*Set model.{key}.num_classes=4'):
            check_dataloader_annotations(cfg, 'train')


def test_lists_of_heads_are_checked_and_more_classes_is_a_warning():
    model = dict(roi_head=dict(bbox_head=[dict(num_classes=4), dict(num_classes=4)],
                               mask_head=dict(num_classes=2, class_agnostic=True)),
                 auxiliary_head=[dict(num_classes=4), dict(num_classes=5)])
    warnings = check_head_classes(model, CLASSES)
    assert len(warnings) == 1
    assert warnings[0].startswith('train_dataloader: model.auxiliary_head.1.num_classes is 5 but '
                                  'the dataset has 4 classes')
    assert check_head_classes(model, CLASSES, warn_larger=False) == []
    model['roi_head']['bbox_head'][1]['num_classes'] = 3
    with pytest.raises(ClassCountError, match=r'model.roi_head.bbox_head.1.num_classes is 3'):
        check_head_classes(model, CLASSES)
