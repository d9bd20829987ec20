# RetinaNet + FPN, LITv2-B with HiLo window 4 in stage 3 (paper: 46.3 box AP).
_base_ = './litv2_b_1x.py'
model = dict(backbone=dict(window_size=(0, 0, 4, 1)))
