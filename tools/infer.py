"""Run a detector or segmentor on images and write pictures of the predictions.

    python tools/infer.py CONFIG CHECKPOINT IMAGE_OR_FOLDER [--out-dir outputs] [--score-thr 0.3]

Detection configs go through mmdet's ``DetInferencer`` (boxes and masks drawn), segmentation
configs through mmseg's ``MMSegInferencer`` (colour-coded classes blended over the image).
"""
import argparse
import os.path as osp

from mmengine.config import Config

from litv2_mm.engine import trust_checkpoint


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
    return parser.parse_args()


def main():
    args = parse_args()
    for path in (args.config, args.checkpoint, args.inputs):
        if not osp.exists(path):
            raise FileNotFoundError(f'not found: {path}')
    if args.trust_checkpoint:
        trust_checkpoint(args.checkpoint)
    scope = Config.fromfile(args.config).get('default_scope', 'mmdet')
    if scope == 'mmdet':
        from mmdet.apis import DetInferencer
        inferencer = DetInferencer(args.config, args.checkpoint, device=args.device)
        inferencer(args.inputs, out_dir=args.out_dir, pred_score_thr=args.score_thr,
                   no_save_pred=False)
    elif scope == 'mmseg':
        from mmseg.apis import MMSegInferencer
        inferencer = MMSegInferencer(args.config, args.checkpoint, device=args.device)
        inferencer(args.inputs, out_dir=args.out_dir)
    else:
        raise ValueError(f'{args.config}: default_scope {scope!r} is neither mmdet nor mmseg')
    print(f'pictures written to {osp.join(args.out_dir, "vis")}')


if __name__ == '__main__':
    main()
