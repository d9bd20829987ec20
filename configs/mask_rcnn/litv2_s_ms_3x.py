# Mask R-CNN + FPN with a LITv2-S backbone, COCO 3x with multi-scale training: mmdet's Swin-T
# 3x recipe (swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py: random flip, then either a
# resize to a shorter side of 480 to 800 or a resize to 400 / 500 / 600, a random crop of
# 384 to 600 and that resize again; 36 epochs with lr steps at 27 and 33, 1000 warm-up
# iterations) with the paper's detection optimizer, as in litv2_s_1x.py: AdamW lr 2e-4,
# weight decay 1e-4 (none on norms), 2 images x 8 GPUs. Mixed precision: tools/train.py --amp.
# The paper reports no 3x result; the network is litv2_s_1x.py's.
_base_ = ['mmdet::swin/mask-rcnn_swin-t-p4-w7_fpn_ms-crop-3x_coco.py',
          '../_base_/litv2_runtime.py']

# The authors' ImageNet weights; a local path works too. Their release files pickle a
# yacs config beside the weights, hence the explicit opt-in for this trusted file.
checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='LITv2',
        arch='small',
        alpha=0.9,
        window_size=(0, 0, 2, 1),
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)),
    neck=dict(in_channels=[96, 192, 384, 768]))

# the paper's optimizer instead of Swin's (lr 1e-4, weight decay 0.05, no decay on its
# position tables, which LITv2 has not)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
# resumes in the middle of an epoch (after a preemption) without training its first part again
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
