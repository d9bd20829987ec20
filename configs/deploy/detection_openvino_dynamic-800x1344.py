# OpenVINO through mmdeploy's backend, fp32: exported with dynamic shapes, then converted
# for one input shape (COCO's 800 x 1344, batch 1), as mmdeploy's Model Optimizer call did;
# run with OpenVINO's current API (litv2_mm.deployment.openvino_backend: mmdeploy 1.3.1's own
# backend needs OpenVINO <= 2023.3; docs/deployment.md).
_base_ = ['./_base_/dynamic_detection.py']
backend_config = dict(type='openvino',
                      model_inputs=[dict(opt_shapes=dict(input=[1, 3, 800, 1344]))])
