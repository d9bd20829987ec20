# UperNet (+ auxiliary FCN head on stage 3) with a LITv2-S backbone on ADE20K, 512x512
# crops, 160k iterations: mmseg's Swin-T UperNet recipe (AdamW lr 6e-5, weight decay 0.01,
# no decay on norms, 1500 linear warm-up iterations then poly decay, 2 images x 8 GPUs),
# so results compare with Swin-T. Sliding-window test: --cfg-options model.test_cfg.mode=slide
# model.test_cfg.crop_size="(512,512)" model.test_cfg.stride="(341,341)".
_base_ = [
    'mmseg::swin/swin-tiny-patch4-window7-in1k-pre_upernet_8xb2-160k_ade20k-512x512.py',
    '../_base_/litv2_runtime.py'
]

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
    decode_head=dict(in_channels=[96, 192, 384, 768], num_classes=150),
    auxiliary_head=dict(in_channels=384, num_classes=150))
train_cfg = dict(type='ResumableIterBasedTrainLoop')
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
