# RetinaNet with LITv2-S (configs/retinanet/litv2_s_1x.py) from scratch on the embedded
# synthetic COCO-format set on a CPU (boxes only; settings in configs/_base_/synthetic_coco_cpu.py).
_base_ = ['./litv2_s_1x.py', '../_base_/synthetic_coco_cpu.py']
model = dict(
    backbone=dict(init_cfg=None, drop_path_rate=0.1),
    bbox_head=dict(num_classes=4),
    test_cfg=dict(score_thr=0.01))
data_root = {{_base_.synthetic_data_root}}
# the pipelines at the top level too (mmdeploy and the inferencers read cfg.test_pipeline)
train_pipeline = {{_base_.synthetic_train_pipeline}}
test_pipeline = {{_base_.synthetic_test_pipeline}}
train_dataloader = {{_base_.synthetic_train_dataloader}}
val_dataloader = {{_base_.synthetic_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.synthetic_val_evaluator}}
test_evaluator = val_evaluator
train_cfg = {{_base_.synthetic_train_cfg}}
param_scheduler = {{_base_.synthetic_param_scheduler}}
optim_wrapper = {{_base_.synthetic_optim_wrapper}}
default_hooks = {{_base_.synthetic_default_hooks}}
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
