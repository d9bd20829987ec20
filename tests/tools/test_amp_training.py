"""``--amp`` on a machine without a GPU trains under CPU autocast, with our tools/train.py and
with mmdet's and mmseg's own: the Mask R-CNN (bf16) and Semantic FPN (bf16, and fp16 with a
dynamic loss scale) synthetic configs train a few iterations with finite losses and changing
weights; a run stopped and resumed with ``--amp`` ends with the uninterrupted run's weights,
bitwise; the AMP state (the loss scale, where there is one) is in every checkpoint; and
tools/test.py --amp evaluates the checkpoint (bf16 feature extractor on a CPU)."""
import glob
import math
import os.path as osp

import pytest
import torch

from litv2_mm.engine.amp import has_amp_accelerator
from litv2_mm.models.cpu_inference import cpu_bf16

from helpers import skip_unless_cpu_bf16

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(has_amp_accelerator(), reason='tests the CPU-only --amp path')]

SHRINK = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.1),
             neck=dict(in_channels=tiny_widths))
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=1, max_keep_ckpts=-1),
                     logger=dict(interval=1))
"""
SMALL_VAL = ['val_dataloader.dataset.indices=2', 'test_dataloader.dataset.indices=2']


def state(path):
    return torch.load(path, map_location='cpu')


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


@pytest.mark.parametrize('base,lib,dtype,metric', [
    ('mask_rcnn/litv2_s_1x_synthetic.py', 'mmdet', None, 'coco/segm_mAP: '),
    ('sem_fpn/litv2_s_synthetic.py', 'mmseg', None, 'mIoU: '),
    ('sem_fpn/litv2_s_synthetic.py', 'mmseg', 'float16', 'mIoU: '),
])
def test_amp_trains_resumes_exactly_and_keeps_its_state(tmp_path, repo_root, tiny_config,
                                                       coco_root, ade_root, run_tool,
                                                       run_library_tool, load_tool, base, lib,
                                                       dtype, metric):
    skip_unless_cpu_bf16(dtype or 'bfloat16')
    cfg = tiny_config(tmp_path, base, SHRINK)
    options = [f'optim_wrapper.dtype={dtype}'] if dtype else []

    def args(work, iters, *flags):
        return [cfg, '--work-dir', work, '--amp', *flags, '--cfg-options',
                f'train_cfg.max_iters={iters}', 'train_cfg.val_interval=100', *SMALL_VAL,
                *options]

    full, part = tmp_path / 'full', tmp_path / 'part'
    out = run_tool('train.py', *args(full, 3)).stdout
    assert f'CPU autocast ({dtype or "bfloat16"})' in out
    plot_training = load_tool('analysis/plot_training')
    logged, _ = plot_training.read_scalars(plot_training.find_scalars(str(full)), ())
    assert len(logged['loss']) == 3
    assert all(math.isfinite(v) for series in logged.values() for _, v in series)
    first, last = state(full / 'iter_1.pth'), state(full / 'iter_3.pth')
    changed = [k for k in first['state_dict']
               if not torch.equal(first['state_dict'][k], last['state_dict'][k])]
    assert any(k.startswith('backbone.') for k in changed)
    assert 'loss_scaler' in last['optimizer']
    if dtype == 'float16':
        assert last['optimizer']['loss_scaler']['scale'] > 0
    else:
        assert last['optimizer']['loss_scaler'] == {}  # bf16: no loss scale to keep

    # stopped at 2 and resumed to 3 with the library's own tools/train.py --amp
    run_library_tool(lib, 'train.py', *args(part, 2), cwd=repo_root)
    out = run_library_tool(lib, 'train.py', *args(part, 3, '--resume'), cwd=repo_root)
    assert 'without loading them' in out
    resumed = state(part / 'iter_3.pth')
    assert_same_weights(resumed['state_dict'], last['state_dict'])
    assert resumed['optimizer']['loss_scaler'] == last['optimizer']['loss_scaler']

    # evaluated in mixed precision: our tools/test.py --amp and the library's own
    # tools/test.py with mmengine's switch, test_cfg.fp16=True
    ckpt = part / 'iter_3.pth'
    outs = [run_tool('test.py', cfg, ckpt, '--work-dir', tmp_path / 'test', '--amp',
                     '--cfg-options', *SMALL_VAL).stdout]
    # mmseg's tools/test.py builds mmengine's own Runner (not the config's runner_type):
    # there mmengine's TestLoop runs the whole segmentor under its bf16 CPU autocast, which
    # a CPU without oneDNN bf16 kernels cannot run (mmengine's behaviour, not ours)
    if lib == 'mmdet' or cpu_bf16() != 'none':
        outs.append(run_library_tool(lib, 'test.py', cfg, ckpt, '--work-dir', tmp_path / 'test2',
                                     '--cfg-options', 'test_cfg.fp16=True', *SMALL_VAL,
                                     cwd=repo_root))
    for out in outs if lib == 'mmdet' else outs[:1]:
        if cpu_bf16() == 'native':
            assert 'CPUAmpTestLoop runs the feature extractor in bf16' in out
        else:
            assert 'no native bf16' in out
    for out in outs:
        assert metric in out, out[-3000:]
    # and pictures of the predictions, in mixed precision
    images = (osp.join(coco_root, 'val') if lib == 'mmdet'
              else osp.join(ade_root, 'images', 'validation'))
    image = sorted(glob.glob(osp.join(images, '*.jpg')))[0]
    run_tool('infer.py', cfg, ckpt, image, '--out-dir', tmp_path / 'vis', '--amp')
    assert glob.glob(str(tmp_path / 'vis' / 'vis' / '*'))
