"""Deployment: ONNX export of the backbone, backbone + FPN or a classifier with an
onnxruntime check (``litv2_mm.deployment.onnx``); whole detectors and segmentors through
mmdeploy (``end2end``, with the rewrites of ``rewriters`` that configs/deploy/ imports); the
CPU runtimes (``runtimes``: ONNX Runtime, OpenVINO). mmdeploy is imported only by
``end2end`` and ``rewriters``; the models come from :func:`litv2_mm.apis.init_model`."""
from .onnx import OPSET, BackboneNeck, ClassifierLogits, compare_with_onnxruntime, export_onnx

__all__ = ['OPSET', 'BackboneNeck', 'ClassifierLogits', 'compare_with_onnxruntime',
           'export_onnx']
