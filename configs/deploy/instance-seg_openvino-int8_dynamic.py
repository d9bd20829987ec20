# OpenVINO, int8, dynamic batch and image size; Mask R-CNN.
# Post-training quantization with NNCF, calibrated on images of the model config's own
# training split through its test pipeline (tools/deployment/deploy.py --calib-images /
# --calib-split; docs/deployment.md).
_base_ = ['./_base_/dynamic_instance-seg.py']
backend_config = dict(type='openvino', precision='int8')
