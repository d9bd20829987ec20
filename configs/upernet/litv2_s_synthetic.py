# UperNet with LITv2-S (configs/upernet/litv2_s_512x512_160k_ade20k.py) from scratch on the
# embedded synthetic ADE20K-format set on a CPU (settings in
# configs/_base_/synthetic_ade_cpu.py).
_base_ = ['./litv2_s_512x512_160k_ade20k.py', '../_base_/synthetic_ade_cpu.py']
model = dict(
    data_preprocessor=dict(size={{_base_.synthetic_crop_size}}),
    backbone=dict(init_cfg=None, drop_path_rate=0.1))
data_root = {{_base_.synthetic_data_root}}
# the pipelines at the top level too (mmdeploy and the inferencers read cfg.test_pipeline)
train_pipeline = {{_base_.synthetic_train_pipeline}}
test_pipeline = {{_base_.synthetic_test_pipeline}}
train_dataloader = {{_base_.synthetic_train_dataloader}}
val_dataloader = {{_base_.synthetic_val_dataloader}}
test_dataloader = val_dataloader
train_cfg = {{_base_.synthetic_train_cfg}}
param_scheduler = {{_base_.synthetic_param_scheduler}}
optim_wrapper = {{_base_.synthetic_optim_wrapper}}
default_hooks = {{_base_.synthetic_default_hooks}}
randomness = dict(seed=0)
