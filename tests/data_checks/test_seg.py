"""Label maps people made themselves (ADE20K format: a PNG of class indices per image) fail
naming the file and the values: as each one loads, and on a sample before training. One test
per kind of breakage, on tiny ADE20K-layout sets written to tmp_path."""
import numpy as np
import pytest
from mmengine.config import Config
from mmengine.registry import init_default_scope
from PIL import Image

from litv2_mm.config import set_data_root
from litv2_mm.data_checks import (ClassCountError, LabelMapError, check_dataloader_annotations,
                                  check_dataset_sample, check_pipelines)

SIZE = 32


def label(value=1, dtype=np.uint8):
    """A SIZE x SIZE label map: value 0 on the top rows, ``value`` below."""
    seg = np.full((SIZE, SIZE), value, dtype)
    seg[:8] = 0
    return seg


def ade_set(root, maps, seg_suffix='.png'):
    """An ADE20K-layout set (training and validation) with one 32 px image per label map
    (an array: 2-D saved as 'L' or 16-bit, 3-D as RGB; or a PIL image)."""
    for split, prefix in (('training', 'ADE_train'), ('validation', 'ADE_val')):
        (root / 'images' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i, seg in enumerate(maps):
            name = f'{prefix}_{i + 1:08d}'
            Image.fromarray(np.full((SIZE, SIZE, 3), 100, np.uint8)).save(
                root / 'images' / split / f'{name}.jpg')
            seg = seg if isinstance(seg, Image.Image) else Image.fromarray(seg)
            seg.save(root / 'annotations' / split / f'{name}{seg_suffix}')
    return root


def sem_fpn_cfg(repo_root, root, reduce_zero_label=True):
    cfg = Config.fromfile(f'{repo_root}/configs/sem_fpn/litv2_s_synthetic.py')
    set_data_root(cfg, str(root))
    if not reduce_zero_label:  # the dataset's and LoadAnnotations' (mmseg asserts they agree)
        cfg.train_dataloader.dataset.reduce_zero_label = False
        cfg.train_dataloader.dataset.pipeline[1].reduce_zero_label = False
    return cfg


def build(cfg, sample=0):
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    return check_pipelines(DATASETS.build(cfg.train_dataloader.dataset), sample=sample)


def broken_set(tmp_path, repo_root, broken, reduce_zero_label=True, **kwargs):
    """A set whose second label map is ``broken``, and its dataset (not sampled)."""
    root = ade_set(tmp_path / 'ade', [label(), broken], **kwargs)
    return build(sem_fpn_cfg(repo_root, root, reduce_zero_label))


def test_colour_label_map_fails_as_it_loads(tmp_path, repo_root):
    colour = np.zeros((SIZE, SIZE, 3), np.uint8)
    colour[8:] = (120, 120, 80)  # ADE20K's palette colour of 'wall'
    dataset = broken_set(tmp_path, repo_root, colour)
    dataset.prepare_data(0)
    with pytest.raises(LabelMapError, match=r'label map \S*annotations/training/ADE_train_00000002'
                                            r'.png is 32x32x3 .*colour rendering'):
        dataset.prepare_data(1)


def test_grey_label_map_saved_as_rgb_says_so(tmp_path, repo_root):
    dataset = broken_set(tmp_path, repo_root, np.stack([label(3)] * 3, axis=-1))
    with pytest.raises(LabelMapError, match=r'ADE_train_00000002.png is 32x32x3 .*Its channels '
                                            'are equal: save one of them'):
        dataset.prepare_data(1)


def test_values_beyond_the_classes_fail_as_they_load(tmp_path, repo_root):
    dataset = broken_set(tmp_path, repo_root, label(200))
    with pytest.raises(LabelMapError, match=r'ADE_train_00000002.png holds the values \[199\] '
                                            r'after reduce_zero_label=True .* the dataset has 150 '
                                            r'classes: every value must be a class index 0..149 '
                                            r'or 255 \(ignore_index\)'):
        dataset.prepare_data(1)


def test_ade_maps_without_reduce_zero_label_say_to_set_it(tmp_path, repo_root):
    dataset = broken_set(tmp_path, repo_root, label(150), reduce_zero_label=False)
    with pytest.raises(LabelMapError, match=r'ADE_train_00000002.png holds the values \[150\], '
                                            r'but .*set reduce_zero_label=True'):
        dataset.prepare_data(1)


def test_16_bit_label_map_with_large_values_fails(tmp_path, repo_root):
    dataset = broken_set(tmp_path, repo_root, label(300, np.uint16))
    with pytest.raises(LabelMapError, match=r'ADE_train_00000002.png is a 16-bit PNG with values '
                                            r'up to 300: .*300 would become class 44'):
        dataset.prepare_data(1)


def test_label_map_of_another_name_is_named(tmp_path, repo_root):
    root = ade_set(tmp_path / 'ade', [label(), label()], seg_suffix='_seg.png')
    dataset = build(sem_fpn_cfg(repo_root, root))
    with pytest.raises(LabelMapError, match=r'label map not found: \S*ADE_train_00000001.png \(for '
                                            r'image \S*ADE_train_00000001.jpg\).*seg_map_suffix'):
        dataset.prepare_data(0)


def test_palette_png_and_ignore_index_pass(tmp_path, repo_root):
    palette = Image.fromarray(label(4), 'L').convert('P')
    palette.putpalette([255, 0, 0] * 256)  # colours say nothing: the indices are the classes
    ignored = label(5)
    ignored[:4] = 255  # ignore_index stays 255 after reduce_zero_label
    root = ade_set(tmp_path / 'ade', [palette, ignored])
    dataset = build(sem_fpn_cfg(repo_root, root), sample=32)  # the sample passes
    seg = dataset.pipeline.load(dataset.get_data_info(0))['gt_seg_map']
    assert set(np.unique(seg)) == {3, 255}  # 4 - 1, and 0 -> 255


def test_broken_label_map_fails_before_training_in_the_sample(tmp_path, repo_root):
    root = ade_set(tmp_path / 'ade', [label(), label(), label(), label(200)])
    cfg = sem_fpn_cfg(repo_root, root)
    init_default_scope('mmseg')
    from litv2_mm.engine import LITv2Runner
    with pytest.raises(LabelMapError, match=r'ADE_train_00000004.png holds the values \[199\].*'
                                            r'\[Found before training, in item 3 of the 4 checked '
                                            r'of the 4 of ADE20KDataset at \S*ade/'):
        LITv2Runner.build_dataloader(cfg.train_dataloader)  # as the runner builds it


def test_sem_fpn_config_with_too_few_classes_fails_before_training(tmp_path, repo_root,
                                                                   ade_root):
    cfg = sem_fpn_cfg(repo_root, ade_root)
    cfg.model.decode_head.num_classes = 6
    with pytest.raises(ClassCountError, match=r'train_dataloader: model.decode_head.num_classes '
                                              r"is 6 but the dataset has 150 classes \['wall', "
                                              r".*Set model.decode_head.num_classes=150"):
        check_dataloader_annotations(cfg, 'train')


def custom_binary_set(tmp_path, value, reduce_zero_label):
    """A BaseSegDataset of classes ('background', 'polyp') whose maps are 0 and ``value``."""
    root = ade_set(tmp_path / 'bin', [label(value)] * 3)
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    dataset = DATASETS.build(dict(
        type='BaseSegDataset', data_root=str(root), img_suffix='.jpg', seg_map_suffix='.png',
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
        metainfo=dict(classes=('background', 'polyp')), reduce_zero_label=reduce_zero_label,
        pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations')]))
    return check_pipelines(dataset, sample=0)


def test_binary_maps_with_reduce_zero_label_are_a_warning(tmp_path):
    warnings = check_dataset_sample(custom_binary_set(tmp_path, 1, reduce_zero_label=True))
    assert len(warnings) == 1
    assert ("in 3 sampled label maps every class but the last (1 'polyp') occurs: with "
            'reduce_zero_label=True value 0') in warnings[0]


def test_masks_saved_as_0_and_255_are_a_warning(tmp_path):
    warnings = check_dataset_sample(custom_binary_set(tmp_path, 255, reduce_zero_label=False))
    assert len(warnings) == 1
    assert ("every pixel is class 0 'background' or 255 (ignore_index): nothing else is "
            'learned. If your masks mark a class with 255') in warnings[0]


def test_the_embedded_ade_sets_pass_without_warnings(repo_root, ade_root, ade20k_root):
    for root, config in ((ade_root, 'sem_fpn/litv2_s_synthetic.py'),
                         (ade20k_root, 'upernet/litv2_s_512x512_160k_ade20k.py')):
        cfg = Config.fromfile(f'{repo_root}/configs/{config}')
        set_data_root(cfg, str(root))
        check_dataloader_annotations(cfg, 'train')
        assert check_dataset_sample(build(cfg)) == []
