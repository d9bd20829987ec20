# Semantic FPN with a LITv2-S backbone on ADE20K (paper: 44.3 mIoU): the paper's recipe,
# 80k iterations, AdamW lr 1e-4, weight decay 1e-4, total batch 16 (2 images x 8 GPUs),
# 512x512 crops, poly decay. Sliding-window test: --cfg-options model.test_cfg.mode=slide
# model.test_cfg.crop_size="(512,512)" model.test_cfg.stride="(341,341)".
_base_ = ['mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py', '../_base_/litv2_runtime.py']

checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth'
model = dict(
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='LITv2',
        arch='small',
        alpha=0.9,
        window_size=(0, 0, 2, 1),
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)),
    neck=dict(in_channels=[96, 192, 384, 768]),
    decode_head=dict(num_classes=150))

train_dataloader = dict(batch_size=2)
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', power=0.9, eta_min=0.0, begin=0, end=80000, by_epoch=False)
]
train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=80000, val_interval=8000)
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=8000,
                                     backend_args=dict(backend='atomic_local')))
