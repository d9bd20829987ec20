# LITv2-M on ImageNet-1K (paper: 83.3 top-1); recipe in litv2_s_8xb128_in1k.py.
_base_ = './litv2_s_8xb128_in1k.py'
model = dict(backbone=dict(arch='medium', drop_path_rate=0.3))
