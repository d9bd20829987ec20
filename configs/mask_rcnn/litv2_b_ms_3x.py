# Mask R-CNN + FPN with a LITv2-B backbone, COCO 3x with multi-scale training (mmdet's Swin-T
# 3x recipe with the paper's optimizer, see litv2_s_ms_3x.py). The paper reports no 3x result.
_base_ = './litv2_s_ms_3x.py'
checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_b.pth'
model = dict(
    backbone=dict(
        arch='base',
        drop_path_rate=0.3,
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)),
    neck=dict(in_channels=[128, 256, 512, 1024]))
