# LITv2-S fine-tuned on ImageNet-1K at 384 x 384 from its 224 x 224 weights, with layer-wise
# learning-rate decay (BackboneLayerDecayOptimWrapperConstructor, litv2_mm/engine/layer_decay.py):
# a parameter at depth d of LITv2-S's 14 (patch embedding 0, the 12 blocks 1-12 in forward
# order, the head 13) trains at lr * 0.9 ** (13 - d), so the head at lr and the patch
# embedding at 0.25 lr; the DTM offset convs keep their 0.01x on top. Otherwise Swin's 384
# fine-tuning schedule: 30 epochs, AdamW lr 2e-5 for batch 512 (8 GPUs x 64), weight decay
# 1e-8, 5 warm-up epochs then cosine to 2e-7, with the augmentation of the 224 recipe at 384.
# The paper reports no 384 result: this recipe is untested at full scale.
# It starts from the authors' ImageNet weights (backbone and head) as a classifier checkpoint:
#   python tools/model_converters/litv2_to_openmmlab.py litv2_s.pth litv2_s_in1k.pth \
#       --trust-checkpoint
_base_ = ['./litv2_s_8xb128_in1k.py']

load_from = 'litv2_s_in1k.pth'

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandAugment', policies='timm_increasing', num_policies=2, total_level=10,
         magnitude_level=9, magnitude_std=0.5,
         hparams=dict(pad_val=[104, 116, 124], interpolation='bicubic')),
    dict(type='RandomErasing', erase_prob=0.25, mode='rand', min_area_ratio=0.02,
         max_area_ratio=1 / 3, fill_color=[103.53, 116.28, 123.675],
         fill_std=[57.375, 57.12, 58.395]),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=384, backend='pillow', interpolation='bicubic'),
    dict(type='PackInputs'),
]
train_dataloader = dict(batch_size=64, dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(batch_size=64, dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(lr=2e-5, weight_decay=1e-8),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(layer_decay_rate=0.9))  # + the base's no-decay rules and lr_mult
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=2e-7, by_epoch=True, begin=5),
]
train_cfg = dict(max_epochs=30)
auto_scale_lr = dict(base_batch_size=512)
