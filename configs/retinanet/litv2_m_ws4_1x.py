# RetinaNet + FPN, LITv2-M with HiLo window 4 in stage 3 (paper: 45.8 box AP).
_base_ = './litv2_m_1x.py'
model = dict(backbone=dict(window_size=(0, 0, 4, 1)))
