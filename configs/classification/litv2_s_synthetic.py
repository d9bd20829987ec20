# LITv2-S classification on the embedded ImageNet-layout set of 4 shape classes
# (tools/data/make_synthetic_data.py --which imagenet writes it to data/generated/imagenet/),
# sized for a CPU: 64 px crops, batch 8, 40 iterations, no RandAugment / mixup / cutmix.
_base_ = ['./litv2_s_8xb128_in1k.py']

data_root = 'data/generated/imagenet/'
# litv2_mm.synthetic_data.IMAGENET_CLASSES
classes = ('circle', 'rectangle', 'triangle', 'star')

data_preprocessor = dict(num_classes=len(classes))
model = dict(head=dict(num_classes=len(classes)), train_cfg=None)

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=64, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='ResizeEdge', scale=73, edge='short', backend='pillow', interpolation='bicubic'),
    dict(type='CenterCrop', crop_size=64),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, split='train', metainfo=dict(classes=classes),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(data_root=data_root, split='val', metainfo=dict(classes=classes),
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_evaluator = val_evaluator

train_cfg = dict(_delete_=True, type='ResumableIterBasedTrainLoop', max_iters=40, val_interval=40)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=10),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=False, begin=10, end=40),
]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=40, max_keep_ckpts=1),
                     logger=dict(interval=10))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
