"""The libraries' own tools (shipped in their packages as ``.mim/tools/``) run our configs as
ours do: mmdet's, mmseg's and mmpretrain's tools/train.py train 2 iterations, resume to 3
with the same weights as an uninterrupted 3-iteration run, and their tools/test.py evaluates
the checkpoint. A model that is not LITv2 trains, saves, resumes and loads init_cfg weights
with mmdet's tools once litv2_mm is imported (torch's safe loader would refuse mmengine's
checkpoints otherwise)."""
import os.path as osp
import re

import pytest
import torch

pytestmark = pytest.mark.slow  # end to end: see pyproject.toml

SHRINK = {
    'mmdet': ("retinanet/litv2_s_1x_synthetic.py", """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.1),
             neck=dict(in_channels=tiny_widths))
""", r'coco/bbox_mAP: (-?[0-9.]+)'),
    'mmseg': ("sem_fpn/litv2_s_synthetic.py", """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.1),
             neck=dict(in_channels=tiny_widths))
""", r'mIoU: ([0-9.]+)'),
    'mmpretrain': ("classification/litv2_s_synthetic.py", """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.1),
             head=dict(in_channels=tiny_widths[3]))
""", r'accuracy/top1: ([0-9.]+)'),
}


def weights(path):
    return torch.load(path, map_location='cpu')['state_dict']  # the safe loader


@pytest.mark.parametrize('lib', ['mmdet', 'mmseg', 'mmpretrain'])
def test_library_train_resume_and_test(lib, tmp_path, repo_root, tiny_config, coco_root,
                                       ade_root, imagenet_root, run_library_tool):
    base, shrink, metric = SHRINK[lib]
    cfg = tiny_config(tmp_path, base, shrink)
    small_val = ['val_dataloader.dataset.indices=2', 'test_dataloader.dataset.indices=2']
    full, part = tmp_path / 'full', tmp_path / 'part'
    run_library_tool(lib, 'train.py', cfg, '--work-dir', full, '--cfg-options',
                     'train_cfg.max_iters=3', *small_val, cwd=repo_root)
    run_library_tool(lib, 'train.py', cfg, '--work-dir', part, '--cfg-options',
                     'train_cfg.max_iters=2', *small_val, cwd=repo_root)
    assert (part / 'iter_2.pth').exists()
    out = run_library_tool(lib, 'train.py', cfg, '--work-dir', part, '--resume',
                           '--cfg-options', 'train_cfg.max_iters=3', *small_val, cwd=repo_root)
    assert 'without loading them' in out  # ResumableIterBasedTrainLoop positioned the sampler
    a, b = weights(full / 'iter_3.pth'), weights(part / 'iter_3.pth')
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
    out = run_library_tool(lib, 'test.py', cfg, part / 'iter_3.pth', '--work-dir',
                           tmp_path / 'test', '--cfg-options', *small_val, cwd=repo_root)
    assert re.search(metric, out), out[-3000:]


RESNET_RETINANET = """
_base_ = ['mmdet::retinanet/retinanet_r18_fpn_1x_coco.py', '{synthetic}']
custom_imports = dict(imports=['litv2_mm'], allow_failed_imports=False)
model = dict(backbone=dict(init_cfg={init_cfg}), bbox_head=dict(num_classes=4),
             test_cfg=dict(score_thr=0.0))  # a few iterations score below 0.05
train_dataloader = {{{{_base_.synthetic_train_dataloader}}}}
val_dataloader = {{{{_base_.synthetic_val_dataloader}}}}
test_dataloader = val_dataloader
val_evaluator = {{{{_base_.synthetic_val_evaluator}}}}
test_evaluator = val_evaluator
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2, val_interval=100)
param_scheduler = []
optim_wrapper = {{{{_base_.synthetic_optim_wrapper}}}}
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1), logger=dict(interval=1))
log_processor = dict(by_epoch=False)
"""


def test_a_model_that_is_not_litv2_saves_resumes_and_loads_with_mmdet_tools(
        tmp_path, repo_root, coco_root, run_library_tool):
    synthetic = osp.join(repo_root, 'configs', '_base_', 'synthetic_coco_cpu.py')
    cfg = tmp_path / 'r18.py'
    cfg.write_text(RESNET_RETINANET.format(synthetic=synthetic, init_cfg=None))
    work = tmp_path / 'work'
    small_val = ['val_dataloader.dataset.indices=2', 'test_dataloader.dataset.indices=2']
    run_library_tool('mmdet', 'train.py', cfg, '--work-dir', work, '--cfg-options',
                     *small_val, cwd=repo_root)
    out = run_library_tool('mmdet', 'train.py', cfg, '--work-dir', work, '--resume',
                           '--cfg-options', 'train_cfg.max_iters=3', *small_val, cwd=repo_root)
    assert 'resumed epoch: 0, iter: 2' in out
    out = run_library_tool('mmdet', 'test.py', cfg, work / 'iter_3.pth', '--work-dir',
                           tmp_path / 'test', '--cfg-options', *small_val, cwd=repo_root)
    assert 'coco/bbox_mAP' in out
    pretrained = tmp_path / 'pretrained.py'
    pretrained.write_text(RESNET_RETINANET.format(synthetic=synthetic, init_cfg=repr(dict(
        type='Pretrained', checkpoint=str(work / 'iter_3.pth'), prefix='backbone.'))))
    out = run_library_tool('mmdet', 'train.py', pretrained, '--work-dir', tmp_path / 'ft',
                           '--cfg-options', 'train_cfg.max_iters=1', *small_val, cwd=repo_root)
    assert f'load backbone. in model from: {work / "iter_3.pth"}' in out
