# What every LITv2 deploy config shares (mmdeploy's configs/_base_/onnx_config.py with three
# changes): opset 17, so DTM's grid_sample is ONNX's own GridSample (standard since opset 16:
# no custom operator, unlike DCN backbones); no onnx optimisation pass (it needs mmdeploy's
# TorchScript extension, which its wheel does not ship); and the rewrites this stack needs
# (torch.onnx's TorchScript exporter, ONNX's GridSample), imported when the config loads.
custom_imports = dict(imports=['litv2_mm.deployment.rewriters'], allow_failed_imports=False)
onnx_config = dict(
    type='onnx',
    export_params=True,
    keep_initializers_as_inputs=False,
    opset_version=17,
    save_file='end2end.onnx',
    input_names=['input'],
    output_names=['output'],
    input_shape=None,
    optimize=False)
