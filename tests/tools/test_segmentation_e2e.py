"""End to end on the embedded ADE20K-format data: Semantic FPN learns (mIoU beats predicting
one class everywhere), tools/test.py reproduces the mIoU; UperNet trains and infers."""
import glob
import os.path as osp
import re

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from PIL import Image

from litv2_mm.apis import init_model
from litv2_mm.config import load_config

pytestmark = pytest.mark.slow  # end to end: see pyproject.toml



def miou(text):
    return re.findall(r'mIoU: ([0-9.]+)', text)


def one_class_miou(ade_root):
    """mIoU of predicting the most frequent class everywhere on the validation maps
    (labels reduced as ADE20K's: 0 ignored, k -> k - 1)."""
    counts = {}
    for path in glob.glob(osp.join(ade_root, 'annotations', 'validation', '*.png')):
        values, n = np.unique(np.array(Image.open(path)), return_counts=True)
        for v, c in zip(values, n):
            if v:
                counts[v] = counts.get(v, 0) + c
    total = sum(counts.values())
    # IoU of the predicted class = its share of labelled pixels; every other class 0
    return 100 * max(counts.values()) / total / len(counts)


def test_sem_fpn_learns_and_test_py_reproduces_the_miou(tmp_path, ade_root, run_tool,
                                                        trained_sem_fpn):
    cfg, ckpt, train_out = trained_sem_fpn
    trained = miou(train_out)
    assert trained, train_out[-3000:]
    baseline = one_class_miou(ade_root)
    assert float(trained[-1]) > baseline, (trained, baseline)
    test = run_tool('test.py', cfg, ckpt, '--work-dir', tmp_path / 'test')
    assert miou(test.stdout) == trained[-1:]
    image = sorted(glob.glob(osp.join(ade_root, 'images', 'validation', '*.jpg')))[0]
    run_tool('infer.py', cfg, ckpt, image, '--out-dir', tmp_path / 'vis')
    assert glob.glob(str(tmp_path / 'vis' / 'vis' / '*'))


@pytest.mark.parametrize('config,mode', [('upernet/litv2_s_512x512_160k_ade20k.py', 'whole'),
                                         ('sem_fpn/litv2_s_512x512_80k_ade20k.py', 'slide')])
def test_one_iteration_and_inference_with_litv2_s(config, mode, ade_root, repo_root):
    """The ADE20K configs themselves (LITv2-S, random init) on small crops."""
    cfg = load_config(osp.join(repo_root, 'configs', config))
    cfg.model.data_preprocessor.size = (64, 64)
    if mode == 'slide':
        cfg.model.test_cfg = dict(mode='slide', crop_size=(64, 64), stride=(48, 48))
    model = init_model(cfg)  # the backbone's init_cfg dropped: random init
    init_default_scope('mmseg')
    from mmseg.registry import DATASETS
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', reduce_zero_label=True),
                dict(type='RandomCrop', crop_size=(64, 64)), dict(type='PackSegInputs')]
    dataset = DATASETS.build(dict(
        type='ADE20KDataset', data_root=ade_root, pipeline=pipeline,
        data_prefix=dict(img_path='images/training', seg_map_path='annotations/training')))
    batch = pseudo_collate([dataset[0], dataset[1]])
    model.train()
    loss, _ = model.parse_losses(model(**model.data_preprocessor(batch, True), mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    model.eval()
    test_batch = pseudo_collate([DATASETS.build(dict(
        type='ADE20KDataset', data_root=ade_root,
        data_prefix=dict(img_path='images/validation', seg_map_path='annotations/validation'),
        pipeline=[dict(type='LoadImageFromFile'), dict(type='Resize', scale=(100, 100)),
                  dict(type='LoadAnnotations', reduce_zero_label=True),
                  dict(type='PackSegInputs')]))[0]])
    with torch.no_grad():
        result = model.test_step(test_batch)[0]
    assert result.pred_sem_seg.data.shape[-2:] == result.gt_sem_seg.data.shape[-2:]
