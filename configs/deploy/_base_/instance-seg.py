# Mask R-CNN end to end: boxes, labels and each box's 28 x 28 mask logits come out of the
# graph; mmdeploy's model wrapper pastes the masks into the image (as mmdet does).
_base_ = ['./detection.py']
onnx_config = dict(output_names=['dets', 'labels', 'masks'])
codebase_config = dict(post_processing=dict(export_postprocess_mask=False))
