# The main job: Mask R-CNN with LITv2-S (configs/mask_rcnn/litv2_s_1x.py) trained from
# scratch on the embedded synthetic COCO-format set on a 2-core CPU in 5 to 8 minutes.
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
# the pipelines at the top level too (mmdeploy and the inferencers read cfg.test_pipeline)
train_pipeline = {{_base_.synthetic_train_pipeline}}
test_pipeline = {{_base_.synthetic_test_pipeline}}
train_dataloader = {{_base_.synthetic_train_dataloader}}
val_dataloader = {{_base_.synthetic_val_dataloader}}
test_dataloader = val_dataloader
val_evaluator = {{_base_.synthetic_val_evaluator}}
test_evaluator = val_evaluator
# evaluated half-way and at the end, so the training curves show how the mAP grows
train_cfg = dict(_delete_=True, type='ResumableIterBasedTrainLoop',
                 max_iters={{_base_.synthetic_max_iters}}, val_interval=110)
param_scheduler = {{_base_.synthetic_param_scheduler}}
optim_wrapper = {{_base_.synthetic_optim_wrapper}}
# mmdet's DetVisualizationHook draws the predictions (boxes and masks) on every 10th
# validation image into <work_dir>/<run>/vis_data/vis_image/
default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval={{_base_.synthetic_max_iters}}, max_keep_ckpts=1),
    logger=dict(interval=10),
    visualization=dict(draw=True, interval=10, score_thr=0.3))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
