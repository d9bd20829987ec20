# Mask R-CNN + FPN with a LITv2-M backbone, COCO 1x (paper: 46.8 box AP / 42.3 mask AP).
_base_ = './litv2_s_1x.py'
checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth'
model = dict(
    backbone=dict(
        arch='medium',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)))

