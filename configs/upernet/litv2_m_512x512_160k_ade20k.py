# UperNet with a LITv2-M backbone on ADE20K (recipe in litv2_s_512x512_160k_ade20k.py).
_base_ = './litv2_s_512x512_160k_ade20k.py'
checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_m.pth'
model = dict(
    backbone=dict(
        arch='medium',
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)))
