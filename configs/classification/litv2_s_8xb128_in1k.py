# LITv2-S on ImageNet-1K, 224x224 (paper: 82.0 top-1). The paper's recipe, which is the
# DeiT / Swin one that this mmpretrain base config carries: 300 epochs, AdamW lr 1e-3 for
# batch 1024 (8 GPUs x 128), weight decay 0.05, 20 warm-up epochs then cosine, gradient
# clipping 5, RandAugment, mixup 0.8, cutmix 1.0, label smoothing 0.1, random erasing 0.25;
# plus the DTM offset convs at 0.01x the learning rate.
# The authors' ImageNet weights: tools/model_converters/litv2_to_openmmlab.py turns
# litv2_s.pth into a checkpoint this config evaluates (tools/test.py).
_base_ = ['mmpretrain::swin_transformer/swin-tiny_16xb64_in1k.py', '../_base_/litv2_runtime.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='LITv2',
        arch='small',
        alpha=0.9,
        window_size=(0, 0, 2, 1),
        drop_path_rate=0.2,
        out_indices=(3, )),
    head=dict(in_channels=768))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
optim_wrapper = dict(
    optimizer=dict(lr=1e-3),
    paramwise_cfg=dict(custom_keys={'.conv_offset': dict(lr_mult=0.01)}),
    clip_grad=dict(max_norm=5.0))
auto_scale_lr = dict(base_batch_size=1024)
default_hooks = dict(checkpoint=dict(backend_args=dict(backend='atomic_local')))
# resumes in the middle of an epoch (after a preemption) without training its first part again
train_cfg = dict(type='ResumableEpochBasedTrainLoop')
