"""Deployment helpers: ONNX export and onnxruntime check (``litv2_mm.deployment.onnx``); the
models come from :func:`litv2_mm.apis.init_model`."""
from .onnx import OPSET, BackboneNeck, ClassifierLogits, compare_with_onnxruntime, export_onnx

__all__ = ['OPSET', 'BackboneNeck', 'ClassifierLogits', 'compare_with_onnxruntime',
           'export_onnx']
