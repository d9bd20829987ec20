# UperNet-LITv2-S on ADE20K (configs/upernet/litv2_s_512x512_160k_ade20k.py) with layer-wise
# learning-rate decay (BackboneLayerDecayOptimWrapperConstructor, litv2_mm/engine/layer_decay.py):
# a backbone parameter at depth d of LITv2-S's 14 (patch embedding 0, the 12 blocks 1-12 in
# forward order) trains at lr * 0.9 ** (13 - d); the decode and auxiliary heads at lr. The
# optimizer settings are mmseg's ConvNeXt UperNet ones (AdamW lr 1e-4, weight decay 0.05,
# decay 0.9), with no weight decay on norms, biases and other 1-D parameters; the schedule
# (1500 warm-up iterations, poly, 160k iterations, 2 images x 8 GPUs) is the base's.
# The paper reports no UperNet result: this recipe is untested at full scale.
_base_ = ['./litv2_s_512x512_160k_ade20k.py']

optim_wrapper = dict(
    optimizer=dict(lr=1e-4, weight_decay=0.05),
    constructor='BackboneLayerDecayOptimWrapperConstructor',
    paramwise_cfg=dict(_delete_=True, layer_decay_rate=0.9, norm_decay_mult=0.,
                       bias_decay_mult=0., flat_decay_mult=0.))
