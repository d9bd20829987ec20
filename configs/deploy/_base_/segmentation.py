# mmseg's encoder-decoder with the argmax inside the graph: (B, 1, H, W) class indices.
_base_ = ['./onnx.py']
codebase_config = dict(type='mmseg', task='Segmentation', with_argmax=True)
