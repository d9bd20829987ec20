"""Run a detector or segmentor on images and write pictures of the predictions.

    python tools/infer.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [--out-dir outputs] [--score-thr 0.3]
                          [--amp]

Detection configs go through mmdet's ``DetInferencer`` (boxes and masks drawn), segmentation
configs through mmseg's ``MMSegInferencer`` (colour-coded classes blended over the image).
Before anything runs, every input image is checked (a missing, empty, truncated or
undecodable file fails naming it) and the checkpoint is checked against the model (keys
that do not fit are listed; ``--allow-partial-load`` accepts them). ``--amp`` runs the model
in mixed precision, as ``tools/test.py --amp`` (``test_cfg.fp16=True``) does: fp16 autocast
on a GPU, the backbone and neck in bf16 on a CPU with native bf16 (fp32, with a warning, on
one without).
"""
import argparse
import os.path as osp
from contextlib import nullcontext

import mmcv
from mmengine.config import Config

from litv2_mm.checkpoint import TRUSTED_PREFIX, check_state_dict_fits, load_checkpoint_file
from litv2_mm.config import config_scope, list_images
from litv2_mm.data_checks import ImageFileError, check_image_file
from litv2_mm.engine import inference_autocast


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config')
    parser.add_argument('checkpoint')
    parser.add_argument('inputs', help='an image file or a folder of images')
    parser.add_argument('--out-dir', default='outputs', help='where pictures are written')
    parser.add_argument('--device', default=None, help="e.g. 'cpu', 'cuda:0' (default: auto)")
    parser.add_argument('--score-thr', type=float, default=0.3, help='detection score threshold')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow pickled objects in CHECKPOINT (only for files you trust)')
    parser.add_argument('--allow-partial-load', action='store_true',
                        help='run even if tensors of CHECKPOINT do not fit the model')
    parser.add_argument('--amp', action='store_true',
                        help='run under autocast: fp16 on a GPU, bf16 on a CPU with native '
                             'bf16 (fp32, with a warning, without)')
    return parser.parse_args()


def check_inputs(inputs):
    """The image files to run on; each must exist and decode (else the file is named)."""
    files = list_images(inputs, recursive=False) if osp.isdir(inputs) else [inputs]
    for path in files:
        check_image_file(path)
        if mmcv.imread(path) is None:
            raise ImageFileError(f'image file cannot be decoded: {path}. Replace or remove it.')
    return files


def main():
    args = parse_args()
    for path in (args.config, args.checkpoint, args.inputs):
        if not osp.exists(path):
            raise FileNotFoundError(f'not found: {path}')
    images = check_inputs(args.inputs)
    weights = (TRUSTED_PREFIX if args.trust_checkpoint else '') + args.checkpoint
    ckpt = load_checkpoint_file(weights)
    scope = config_scope(Config.fromfile(args.config))
    if scope == 'mmdet':
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(args.config, weights, device=args.device)
        kwargs = dict(pred_score_thr=args.score_thr, no_save_pred=False)
    elif scope == 'mmseg':
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(args.config, weights, device=args.device)
        kwargs = {}
    else:
        raise ValueError(f'{args.config}: default_scope {scope!r} is neither mmdet nor mmseg')
    check_state_dict_fits(inferencer.model, ckpt, f'checkpoint {args.checkpoint}',
                          allow_partial=args.allow_partial_load)
    device_type = next(inferencer.model.parameters()).device.type
    with inference_autocast(inferencer.model, device_type) if args.amp else nullcontext():
        inferencer(images, out_dir=args.out_dir, **kwargs)
    print(f'pictures written to {osp.join(args.out_dir, "vis")}')


if __name__ == '__main__':
    main()
