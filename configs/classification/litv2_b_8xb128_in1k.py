# LITv2-B on ImageNet-1K (paper: 83.6 top-1); recipe in litv2_s_8xb128_in1k.py.
_base_ = './litv2_s_8xb128_in1k.py'
model = dict(backbone=dict(arch='base', drop_path_rate=0.5), head=dict(in_channels=1024))
