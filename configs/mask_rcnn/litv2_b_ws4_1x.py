# Mask R-CNN + FPN, LITv2-B with HiLo window 4 in stage 3 (paper: 46.8 box AP / 42.3 mask AP):
# larger windows are cheaper on large images at a small cost in AP.
_base_ = './litv2_b_1x.py'
model = dict(backbone=dict(window_size=(0, 0, 4, 1)))
