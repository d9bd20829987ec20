"""Post-training int8 quantization of a deployed LITv2 model with OpenVINO's NNCF.

The calibration images come from the model config's own dataset (by default its training
split, never the test split the model is evaluated on), through the config's test pipeline
and the deployed model's data preprocessor, so they are exactly what the deployed graph sees.
NNCF (``nncf.quantize``, ``ModelType.TRANSFORMER``) then inserts int8 quantizers on the
inputs and weights of the convolutions and matrix products (backbone, FPN, heads) and keeps
in float what it does not quantize and what :data:`FLOAT_PATTERNS` names (docs/deployment.md,
"int8 and bf16").
"""
from copy import deepcopy
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np
import torch

if TYPE_CHECKING:
    from mmengine.config import Config

CALIB_IMAGES = 128
"""Default number of calibration images (fewer when the split has fewer)."""
CALIB_SPLIT = 'train'
"""Default split of the model config whose images calibrate (``<split>_dataloader``)."""
FLOAT_PATTERNS = ('.*/conv_offset/.*', '.*/mask_roi_extractor/.*', '.*/mask_head/.*',
                  '/bottleneck/.*')
"""Names (regular expressions over the graph's node names) of the quantizable operations
kept in float, measured (docs/deployment.md, int8 and bf16): DTM's offset convolutions (an
offset's error moves a sampling point: box AP 0.084 -> 0.091 on the demo Mask R-CNN); the
mask branch (int8 mask logits collapse to one value: mask AP 0); UperNet's pyramid-pooling
bottleneck, whose input concatenates the pooled branches (after ReLU) with the backbone's
LayerNorm output: NNCF gives a concatenation's inputs one scale and refuses their unequal
configurations ("QConfigs for unified scale group ... are not equal"). Softmax, the Lo-Fi
pooling, ``GridSample``, box decoding, NMS and ``RoiAlign`` are no quantizable operations:
they stay in float."""


def calibration_dataset_cfg(model_cfg: 'Config', split: str = CALIB_SPLIT) -> dict:
    """The dataset config of ``model_cfg``'s ``<split>_dataloader`` with the config's test
    pipeline (``test_dataloader``'s): the images preprocessed as at test time."""
    loader = model_cfg.get(f'{split}_dataloader')
    if not loader or 'dataset' not in loader:
        raise ValueError(f'the model config has no {split}_dataloader.dataset to calibrate on: '
                         f'choose another split (--calib-split)')
    dataset = deepcopy(loader['dataset'])
    inner = dataset
    while 'pipeline' not in inner and isinstance(inner.get('dataset'), dict):
        inner = inner['dataset']  # RepeatDataset / ClassBalancedDataset wrappers
    inner['pipeline'] = deepcopy(model_cfg.test_dataloader.dataset.pipeline)
    return dataset


def calibration_inputs(model_cfg: 'Config', data_preprocessor: Callable[[dict, bool], dict],
                       num_images: int = CALIB_IMAGES, split: str = CALIB_SPLIT,
                       ) -> list[np.ndarray]:
    """The first ``num_images`` images of ``model_cfg``'s ``split`` (all of them when it has
    fewer), each as the deployed graph's input (1, 3, H, W) float32, made by the deployed
    model's ``data_preprocessor`` (mmdeploy's ``BaseBackendModel.data_preprocessor``)."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import DATASETS

    from ..config import registry_scope
    if num_images < 1:
        raise ValueError(f'the number of calibration images must be >= 1, got {num_images}')
    with registry_scope(model_cfg):
        dataset = DATASETS.build(calibration_dataset_cfg(model_cfg, split))
    if len(dataset) == 0:
        raise ValueError(f'the {split} split of the model config has no image to calibrate on')
    inputs = []
    with torch.no_grad():
        for i in range(min(num_images, len(dataset))):
            data = data_preprocessor(pseudo_collate([dataset[i]]), False)
            inputs.append(np.ascontiguousarray(data['inputs'].float().cpu().numpy()))
    return inputs


def quantize_openvino(model_file: str, out_xml: str, inputs: Sequence[np.ndarray],
                      float_patterns: Sequence[str] = FLOAT_PATTERNS,
                      fast_bias_correction: bool = True,
                      ) -> str:
    """Quantize the ONNX file or OpenVINO IR ``model_file`` to int8 with NNCF, calibrated on
    ``inputs`` (the graph's input arrays), and save the IR at ``out_xml``; returns it.

    ``ModelType.TRANSFORMER``: NNCF's scheme for attention models (softmax and the operations
    around it stay float, SmoothQuant before the MatMuls); the ``MIXED`` preset (symmetric
    weights per output channel, asymmetric activations, as activations after GELU are not
    centred), activations per tensor; ``float_patterns``: node names of operations kept in
    float (those a graph lacks are skipped: a segmentor has no mask head).
    """
    import nncf
    import openvino as ov
    from nncf.quantization.advanced_parameters import (AdvancedQuantizationParameters,
                                                       QuantizationParameters)
    model = ov.Core().read_model(model_file)
    name = model.inputs[0].get_any_name()
    ignored = nncf.IgnoredScope(patterns=list(float_patterns), validate=False)
    quantized = nncf.quantize(
        model, nncf.Dataset(list(inputs), lambda x: {name: x}),
        preset=nncf.QuantizationPreset.MIXED, model_type=nncf.ModelType.TRANSFORMER,
        subset_size=len(inputs), fast_bias_correction=fast_bias_correction,
        ignored_scope=ignored,
        # per-tensor activations: NNCF would otherwise give the depthwise convolution's input
        # per-channel ranges on the (B, N, C) tokens of fc1 along N, the token axis, which
        # fixes the ranges to the calibration images' token positions and fails on any other
        # input size
        advanced_parameters=AdvancedQuantizationParameters(
            activations_quantization_params=QuantizationParameters(per_channel=False)))
    ov.save_model(quantized, out_xml, compress_to_fp16=False)
    return out_xml
