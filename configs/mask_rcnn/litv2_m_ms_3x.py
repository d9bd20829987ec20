# Mask R-CNN + FPN with a LITv2-M backbone, COCO 3x with multi-scale training (mmdet's Swin-T
# 3x recipe with the paper's optimizer, see litv2_s_ms_3x.py). The paper reports no 3x result.
_base_ = './litv2_s_ms_3x.py'
checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth'
model = dict(
    backbone=dict(
        arch='medium',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)))
