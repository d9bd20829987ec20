# OpenVINO, int8, dynamic batch and image size; RetinaNet (any mmdet detector).
# Post-training quantization with NNCF, calibrated on images of the model config's own
# training split through its test pipeline (tools/deployment/deploy.py --calib-images /
# --calib-split; docs/deployment.md).
_base_ = ['./_base_/dynamic_detection.py']
backend_config = dict(type='openvino', precision='int8')
