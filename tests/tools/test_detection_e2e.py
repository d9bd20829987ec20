"""End to end on the embedded COCO-format data: train, evaluate with CocoMetric, re-test a
saved checkpoint with tools/test.py, and infer a picture."""
import glob
import json
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope, init_default_scope

ITERS = 160
RETINANET_SHORT = f"""
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.), neck=dict(in_channels=tiny_widths))
optim_wrapper = dict(optimizer=dict(lr=1e-3))
train_dataloader = dict(batch_size=4)
train_cfg = dict(max_iters={ITERS}, val_interval={ITERS})
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=20)]
default_hooks = dict(checkpoint=dict(interval={ITERS}), logger=dict(interval=20))
"""


def metric_lines(text):
    """'coco/bbox_mAP: 0.0123' pairs printed by mmengine after an evaluation."""
    return dict(re.findall(r'(coco/bbox_mAP(?:_50)?): (-?[0-9.]+)', text))


def test_retinanet_learns_and_test_py_reproduces_the_ap(tmp_path, coco_root, run_tool, tiny_config):
    cfg = tiny_config(tmp_path, 'retinanet/litv2_s_1x_synthetic.py', RETINANET_SHORT)
    work = tmp_path / 'work'
    train = run_tool('train.py', cfg, '--work-dir', work, timeout=1500)
    trained = metric_lines(train.stdout)
    assert float(trained['coco/bbox_mAP_50']) > 0.0, train.stdout[-3000:]
    assert float(trained['coco/bbox_mAP']) > 0.0, train.stdout[-3000:]
    ckpt = work / f'iter_{ITERS}.pth'
    assert ckpt.exists()
    test = run_tool('test.py', cfg, ckpt, '--work-dir', tmp_path / 'test',
                    '--out', tmp_path / 'preds.pkl', timeout=900)
    assert metric_lines(test.stdout) == trained
    assert (tmp_path / 'preds.pkl').stat().st_size > 0

    image = sorted(glob.glob(osp.join(coco_root, 'val', '*.jpg')))[0]
    infer = run_tool('infer.py', cfg, ckpt, image, '--out-dir', tmp_path / 'vis',
                     '--score-thr', '0.05', timeout=600)
    pictures = glob.glob(str(tmp_path / 'vis' / 'vis' / '*.jpg'))
    assert pictures, infer.stdout[-2000:]


@pytest.mark.parametrize('config', ['retinanet/litv2_s_1x.py', 'mask_rcnn/litv2_s_1x.py'])
def test_one_training_iteration_and_inference_with_litv2_s(config, coco_root, repo_root):
    """The COCO configs themselves (LITv2-S, random init) on small embedded images."""
    cfg = Config.fromfile(osp.join(repo_root, 'configs', config))
    cfg.model.backbone.init_cfg = None
    init_default_scope('mmdet')
    from mmdet.registry import DATASETS, MODELS
    model = MODELS.build(cfg.model)
    model.init_weights()
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
        dict(type='Resize', scale=(128, 128), keep_ratio=True),
        dict(type='PackDetInputs'),
    ]
    dataset = DATASETS.build(dict(
        type='CocoDataset', data_root=coco_root, ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'), metainfo=dict(classes=('circle', 'rectangle',
                                                               'triangle', 'star')),
        pipeline=pipeline))
    batch = pseudo_collate([dataset[0], dataset[1]])
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    model.train()
    data = model.data_preprocessor(batch, True)
    loss, _ = model.parse_losses(model(**data, mode='loss'))
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    model.eval()
    with torch.no_grad():
        results = model.test_step(batch)
    assert len(results) == 2 and 'bboxes' in results[0].pred_instances
    DefaultScope._instance_dict.clear()
