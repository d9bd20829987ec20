# ONNX Runtime, dynamic batch and image size.
_base_ = ['./_base_/dynamic_instance-seg.py']
backend_config = dict(type='onnxruntime')
