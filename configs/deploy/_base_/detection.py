# mmdeploy's mmdet end-to-end model: boxes decoded and NMS-ed inside the graph (ONNX's
# NonMaxSuppression). score_threshold, iou_threshold and keep_top_k are taken from the model
# config's test_cfg where it sets them (score_thr, nms.iou_threshold, max_per_img), so the
# deployed detector keeps the boxes the PyTorch one keeps; the values here are mmdeploy's
# defaults for what test_cfg does not say.
_base_ = ['./onnx.py']
onnx_config = dict(output_names=['dets', 'labels'])
codebase_config = dict(
    type='mmdet',
    task='ObjectDetection',
    model_type='end2end',
    post_processing=dict(
        score_threshold=0.05,
        confidence_threshold=0.005,
        iou_threshold=0.5,
        max_output_boxes_per_class=200,
        pre_top_k=5000,
        keep_top_k=100,
        background_label_id=-1))
