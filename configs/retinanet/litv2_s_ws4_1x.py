# RetinaNet + FPN, LITv2-S with HiLo window 4 in stage 3 (paper: 43.7 box AP).
_base_ = './litv2_s_1x.py'
model = dict(backbone=dict(window_size=(0, 0, 4, 1)))
