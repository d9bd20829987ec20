"""Deployment helpers: ONNX export and onnxruntime check (``litv2_mm.deployment.onnx``)."""
from .onnx import (OPSET, BackboneNeck, ClassifierLogits, build_backbone, build_full_model,
                   compare_with_onnxruntime, export_onnx, trace_size)

__all__ = ['OPSET', 'BackboneNeck', 'ClassifierLogits', 'build_backbone', 'build_full_model',
           'compare_with_onnxruntime', 'export_onnx', 'trace_size']
