# Mask R-CNN + FPN with a LITv2-S backbone, COCO 1x (paper: 44.9 box AP / 40.8 mask AP).
# The paper's recipe: AdamW lr 2e-4, weight decay 1e-4 (none on norms), 12 epochs with
# steps at 8 and 11, 2 images x 8 GPUs. Mixed precision: tools/train.py --amp.
_base_ = ['mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', '../_base_/litv2_runtime.py']

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

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
# resumes in the middle of an epoch (after a preemption) without training its first part again
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
