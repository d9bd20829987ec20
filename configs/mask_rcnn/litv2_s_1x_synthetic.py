# The main job: Mask R-CNN with LITv2-S (configs/mask_rcnn/litv2_s_1x.py) trained from
# scratch on the embedded synthetic COCO-format set on a 2-core CPU in about 12 minutes.
# Only data, schedule and sampling sizes differ from the COCO config (see README).
_base_ = ['./litv2_s_1x.py', '../_base_/synthetic_coco_cpu.py']
model = dict(
    backbone=dict(init_cfg=None, drop_path_rate=0.1),
    roi_head=dict(bbox_head=dict(num_classes=4), mask_head=dict(num_classes=4)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=1000, max_per_img=500),
                   rcnn=dict(sampler=dict(num=64))),
    # the embedded images hold at most 4 objects: 300 proposals and 50 detections per image
    # (instead of 1000 and 100) halve the evaluation time on a CPU
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=300),
                  rcnn=dict(score_thr=0.01, max_per_img=50)))
data_root = {{_base_.synthetic_data_root}}
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
