# ONNX Runtime, static input shape: the shape of the image given to the export (after the
# model config's test pipeline), or onnx_config.input_shape = [W, H] when set.
_base_ = ['./_base_/segmentation.py']
backend_config = dict(type='onnxruntime')
