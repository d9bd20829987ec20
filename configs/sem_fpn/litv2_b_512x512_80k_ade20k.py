# Semantic FPN with a LITv2-B backbone on ADE20K (paper: 47.2 mIoU).
_base_ = './litv2_s_512x512_80k_ade20k.py'
checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
