# OpenVINO, bf16, dynamic batch and image size; RetinaNet (any mmdet detector).
# The float layers run in bf16 where the CPU has bf16 instructions (OpenVINO's
# INFERENCE_PRECISION_HINT; fp32 elsewhere).
_base_ = ['./_base_/dynamic_detection.py']
backend_config = dict(type='openvino', precision='bf16')
