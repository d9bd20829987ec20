# Settings that run a COCO detection config on the embedded synthetic COCO-format set
# (tools/data/make_synthetic_data.py writes it to data/generated/coco/) on a CPU: 192 px
# images, 4 classes, a short iteration-based schedule and a low test score threshold, so a
# few minutes of training already shows in the AP. The names carry a ``synthetic_`` prefix
# (a second base may not repeat the first base's keys); a config takes them over with
# ``key = {{_base_.synthetic_key}}``.
synthetic_data_root = 'data/generated/coco/'
# litv2_mm.synthetic_data.COCO_CLASSES
synthetic_classes = ('circle', 'rectangle', 'triangle', 'star')
synthetic_max_iters = 220

synthetic_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=(192, 192), keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
synthetic_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(192, 192), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs',
         meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
synthetic_train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        data_root=synthetic_data_root, metainfo=dict(classes=synthetic_classes),
        ann_file='annotations/instances_train.json', data_prefix=dict(img='train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=4), pipeline=synthetic_train_pipeline))
synthetic_val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(
        data_root=synthetic_data_root, metainfo=dict(classes=synthetic_classes),
        ann_file='annotations/instances_val.json', data_prefix=dict(img='val/'),
        pipeline=synthetic_test_pipeline))
synthetic_val_evaluator = dict(ann_file=synthetic_data_root + 'annotations/instances_val.json')

synthetic_train_cfg = dict(
    _delete_=True, type='ResumableIterBasedTrainLoop', max_iters=synthetic_max_iters,
    val_interval=synthetic_max_iters)
synthetic_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=50),
    dict(type='MultiStepLR', by_epoch=False, begin=0, end=synthetic_max_iters,
         milestones=[int(synthetic_max_iters * 0.85)], gamma=0.1),
]
synthetic_optim_wrapper = dict(
    optimizer=dict(lr=2e-4, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0., bias_decay_mult=0.),
    clip_grad=dict(max_norm=10.))
synthetic_default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=synthetic_max_iters, max_keep_ckpts=1),
    logger=dict(interval=10))
