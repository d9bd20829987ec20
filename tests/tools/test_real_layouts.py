"""The used-by commands on the real dataset layouts: tools/train.py with the COCO and
ADE20K configs themselves, unmodified except iteration counts and init_cfg=None (nothing is
downloaded), on generated COCO-2017 / ADEChallengeData2016 mini sets at the configs' own
resolution (1333x800, 512x512): 2 training images, 2 validation images, then the metric."""
import re

import pytest

pytestmark = pytest.mark.slow  # end to end: see pyproject.toml

# Detection heads after one iteration score below the configs' test thresholds (RetinaNet's
# classifier starts at the focal-loss prior 0.01 < 0.05; Mask R-CNN's at the warm-up lr
# depends on the initialisation): a threshold of 0 keeps detections, so that the metric is
# computed, not reported empty. Every run is seeded.
CASES = {
    'mask_rcnn/litv2_s_1x.py': ('coco', ['train_cfg.max_epochs=1',
                                         'model.test_cfg.rcnn.score_thr=0.0'],
                                r'coco/segm_mAP: (-?[0-9.]+)', 'epoch_1.pth'),
    'retinanet/litv2_s_1x.py': ('coco', ['train_cfg.max_epochs=1',
                                         'model.test_cfg.score_thr=0.0'],
                                r'coco/bbox_mAP: (-?[0-9.]+)', 'epoch_1.pth'),
    'upernet/litv2_s_512x512_160k_ade20k.py': (
        'ade', ['train_cfg.max_iters=1', 'train_cfg.val_interval=1'], r'mIoU: ([0-9.]+)',
        'iter_1.pth'),
    'sem_fpn/litv2_s_512x512_80k_ade20k.py': (
        'ade', ['train_cfg.max_iters=1', 'train_cfg.val_interval=1'], r'mIoU: ([0-9.]+)',
        'iter_1.pth'),
}


@pytest.mark.parametrize('config', sorted(CASES))
def test_config_trains_and_evaluates_on_the_real_layout(config, tmp_path, run_tool,
                                                        coco2017_root, ade20k_root):
    layout, schedule, metric, checkpoint = CASES[config]
    root = coco2017_root if layout == 'coco' else ade20k_root
    out = run_tool('train.py', f'configs/{config}', '--data-root', root, '--seed', '0',
                   '--work-dir', tmp_path / 'work', '--cfg-options',
                   'model.backbone.init_cfg=None', *schedule, timeout=1200).stdout
    assert (tmp_path / 'work' / checkpoint).exists(), out[-4000:]  # trained, then saved
    assert re.search(r'(Epoch\(val\) \[1\]|Iter\(val\) )\[2/2\]', out), out[-4000:]  # 2 images
    assert re.search(metric, out), out[-4000:]
    assert 'is empty' not in out  # the metric was computed on detections
