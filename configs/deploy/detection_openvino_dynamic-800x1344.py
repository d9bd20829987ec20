# OpenVINO through mmdeploy's backend: exported with dynamic shapes, then converted by
# OpenVINO's Model Optimizer for one input shape (COCO's 800 x 1344, batch 1). mmdeploy's
# backend needs OpenVINO <= 2023.3 (`mo` and the Inference Engine API; both were removed
# later): pip install openvino-dev==2023.3.0 (docs/deployment.md).
_base_ = ['./_base_/dynamic_detection.py']
backend_config = dict(type='openvino',
                      model_inputs=[dict(opt_shapes=dict(input=[1, 3, 800, 1344]))])
