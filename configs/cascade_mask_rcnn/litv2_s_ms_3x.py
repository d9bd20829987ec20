# Cascade Mask R-CNN + FPN with a LITv2-S backbone, COCO 3x with multi-scale training, as
# mmdet ships Cascade Mask R-CNN for ConvNeXt-T and Swin-T's authors for Swin
# (convnext/cascade-mask-rcnn_convnext-t-p4-w7_fpn_4conv1fc-giou_amp-ms-crop-3x_coco.py):
# three 4conv1fc box heads (4 shared 3x3 convolutions with SyncBN, one fc layer) with a GIoU
# loss on decoded boxes, and the Swin-T 3x recipe of ../mask_rcnn/litv2_s_ms_3x.py (random
# flip, multi-scale resize or resize-crop-resize, 36 epochs with lr steps at 27 and 33) with
# the paper's detection optimizer: AdamW lr 2e-4, weight decay 1e-4 (none on norms),
# 2 images x 8 GPUs. Mixed precision: tools/train.py --amp. The paper reports no Cascade
# Mask R-CNN result.
_base_ = ['mmdet::cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py',
          '../_base_/litv2_runtime.py']

# The authors' ImageNet weights; a local path works too. Their release files pickle a
# yacs config beside the weights, hence the explicit opt-in for this trusted file.
checkpoint = 'https://github.com/ziplab/LITv2/releases/download/v1.0/litv2_s.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='LITv2',
        arch='small',
        alpha=0.9,
        window_size=(0, 0, 2, 1),
        drop_path_rate=0.2,
        out_indices=(0, 1, 2, 3),
        init_cfg=dict(type='Pretrained', checkpoint=checkpoint, trusted=True)),
    neck=dict(in_channels=[96, 192, 384, 768]),
    # mmdet's ConvNeXt cascade heads; the three stages differ in their box-delta stds only
    roi_head=dict(bbox_head=[
        dict(
            type='ConvFCBBoxHead',
            num_shared_convs=4,
            num_shared_fcs=1,
            in_channels=256,
            conv_out_channels=256,
            fc_out_channels=1024,
            roi_feat_size=7,
            num_classes=80,
            bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.],
                            target_stds=stds),
            reg_class_agnostic=False,
            reg_decoded_bbox=True,
            norm_cfg=dict(type='SyncBN', requires_grad=True),
            loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
            loss_bbox=dict(type='GIoULoss', loss_weight=10.0))
        for stds in ([0.1, 0.1, 0.2, 0.2], [0.05, 0.05, 0.1, 0.1],
                     [0.033, 0.033, 0.067, 0.067])]))

# mmdet's Swin-T / ConvNeXt-T 3x pipeline (from DETR / Sparse R-CNN)
ms_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333),
             (672, 1333), (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args={{_base_.backend_args}}),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)],
                     keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                     allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=ms_scales, keep_ratio=True)
            ]]),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

max_epochs = 36
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33],
         gamma=0.1)
]

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=1e-4),
    paramwise_cfg=dict(norm_decay_mult=0.))
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
# resumes in the middle of an epoch (after a preemption) without training its first part again
train_cfg = dict(type='ResumableEpochBasedTrainLoop', max_epochs=max_epochs)
