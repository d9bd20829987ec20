# Settings that run an ADE20K segmentation config on the embedded synthetic ADE20K-format
# set (tools/data/make_synthetic_data.py writes it to data/generated/ade/) on a CPU: 128 px
# images, 96 px crops, a short schedule. Names carry a ``synthetic_`` prefix (a second base
# may not repeat the first base's keys); a config takes them over with
# ``key = {{_base_.synthetic_key}}``.
synthetic_data_root = 'data/generated/ade/'
synthetic_crop_size = (96, 96)
synthetic_max_iters = 200

synthetic_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.75, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=synthetic_crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
synthetic_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(128, 128), keep_ratio=True),
    dict(type='LoadAnnotations', reduce_zero_label=True),
    dict(type='PackSegInputs'),
]
synthetic_train_dataloader = dict(
    batch_size=4, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=synthetic_data_root,
                 data_prefix=dict(img_path='images/training', seg_map_path='annotations/training'),
                 pipeline=synthetic_train_pipeline))
synthetic_val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=synthetic_data_root,
                 data_prefix=dict(img_path='images/validation',
                                  seg_map_path='annotations/validation'),
                 pipeline=synthetic_test_pipeline))
synthetic_train_cfg = dict(type='ResumableIterBasedTrainLoop', max_iters=synthetic_max_iters,
                           val_interval=synthetic_max_iters)
synthetic_param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', power=0.9, eta_min=0., by_epoch=False, begin=20,
         end=synthetic_max_iters),
]
synthetic_optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(norm_decay_mult=0.))
synthetic_default_hooks = dict(
    checkpoint=dict(by_epoch=False, interval=synthetic_max_iters, max_keep_ckpts=1),
    logger=dict(interval=10))
