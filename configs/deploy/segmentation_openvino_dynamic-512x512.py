# OpenVINO through mmdeploy's backend, segmentors (ADE20K's 512 x 512 crops, batch 1): as
# detection_openvino_dynamic-800x1344.py.
_base_ = ['./_base_/dynamic_segmentation.py']
backend_config = dict(type='openvino',
                      model_inputs=[dict(opt_shapes=dict(input=[1, 3, 512, 512]))])
