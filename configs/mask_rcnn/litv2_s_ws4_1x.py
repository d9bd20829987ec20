# Mask R-CNN + FPN, LITv2-S with HiLo window 4 in stage 3 (paper: 44.7 box AP / 40.7 mask AP):
# larger windows are cheaper on large images at a small cost in AP.
_base_ = './litv2_s_1x.py'
model = dict(backbone=dict(window_size=(0, 0, 4, 1)))
