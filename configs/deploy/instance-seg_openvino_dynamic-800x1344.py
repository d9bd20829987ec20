# OpenVINO through mmdeploy's backend, Mask R-CNN: as detection_openvino_dynamic-800x1344.py.
_base_ = ['./_base_/dynamic_instance-seg.py']
backend_config = dict(type='openvino',
                      model_inputs=[dict(opt_shapes=dict(input=[1, 3, 800, 1344]))])
