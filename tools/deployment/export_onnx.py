"""Export LITv2 to ONNX (dynamic batch and image size) and check it with onnxruntime.

    # the backbone of a config (or --arch small|medium|base), four NCHW maps
    python tools/deployment/export_onnx.py configs/mask_rcnn/litv2_s_1x.py
    # a detector's backbone + FPN (outputs the FPN maps)
    python tools/deployment/export_onnx.py configs/retinanet/litv2_s_1x.py --neck
    # an mmpretrain classifier (backbone + neck + head -> logits)
    python tools/deployment/export_onnx.py \
        configs/classification/litv2_s_8xb128_in1k.py --classifier

Inputs are normalised images (the data preprocessor is not part of the graph). Exits
non-zero when onnxruntime differs from PyTorch by more than --tol on any check shape.
"""
import argparse
import os
import os.path as osp
import re
import sys

import torch
from mmengine.config import DictAction

from litv2_mm.apis import init_model
from litv2_mm.config import load_config
from litv2_mm.deployment import (OPSET, BackboneNeck, ClassifierLogits, compare_with_onnxruntime,
                                 export_onnx)


def parse_shape(text):
    """'256x320' -> (256, 320)."""
    match = re.fullmatch(r'(\d+)x(\d+)', text)
    if match is None or min(int(match.group(1)), int(match.group(2))) < 32:
        raise argparse.ArgumentTypeError(
            f'expected HxW with sides >= 32, e.g. 256x320, got {text!r}')
    return int(match.group(1)), int(match.group(2))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', nargs='?',
                        help='mmdet / mmseg / mmpretrain config with a LITv2 backbone')
    parser.add_argument('--arch', help="export a bare LITv2 backbone: 'small' | 'medium' | 'base'")
    part = parser.add_mutually_exclusive_group()
    part.add_argument('--neck', action='store_true', help='backbone + the config\'s neck (FPN)')
    part.add_argument('--classifier', action='store_true',
                      help='the mmpretrain classifier of the config, returning logits')
    parser.add_argument('--checkpoint', help='weights: for the backbone any layout LITv2 loads, '
                                             'with --neck / --classifier a checkpoint of the '
                                             'config\'s model (default: random initialisation)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow pickled objects in CHECKPOINT (only for files you trust)')
    parser.add_argument('--out', help='ONNX file (default work_dirs/onnx/NAME.onnx)')
    parser.add_argument('--shapes', nargs='+', type=parse_shape, default=[(224, 224), (250, 330)],
                        metavar='HxW', help='image sizes checked with onnxruntime '
                                            '(default 224x224 250x330)')
    parser.add_argument('--batch', type=int, default=2, help='batch size of the check inputs')
    parser.add_argument('--tol', type=float, default=1e-4, help='largest allowed |difference|')
    parser.add_argument('--opset', type=int, default=OPSET,
                        help=f'ONNX opset (>= 16 for GridSample, default {OPSET})')
    parser.add_argument('--seed', type=int, default=0, help='seed of weights and check inputs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.arch is None):
        parser.error('give either CONFIG or --arch')
    if args.arch and (args.neck or args.classifier):
        parser.error('--neck and --classifier need a CONFIG, not --arch')
    if args.opset < 16:
        parser.error(f'--opset must be >= 16 (GridSample), got {args.opset}')
    if args.batch < 1:
        parser.error(f'--batch must be >= 1, got {args.batch}')
    return args


def build(args):
    """(module to export, output names or prefix, export name)."""
    if args.arch:
        model = init_model(args.arch, args.checkpoint, trusted=args.trust_checkpoint)
        return model, [f'out{i}' for i in model.out_indices], f'litv2_{args.arch}'
    cfg = load_config(args.config, args.cfg_options)
    name = osp.splitext(osp.basename(args.config))[0]
    if not (args.neck or args.classifier):
        model = init_model(cfg.model.backbone, args.checkpoint, trusted=args.trust_checkpoint)
        return model, [f'out{i}' for i in model.out_indices], f'{name}_backbone'
    full = init_model(cfg, args.checkpoint, trusted=args.trust_checkpoint)
    if args.classifier:
        from mmpretrain.models import ImageClassifier
        if not isinstance(full, ImageClassifier):
            raise ValueError(f'--classifier: {args.config} builds a {type(full).__name__}, '
                             'not an mmpretrain ImageClassifier')
        return ClassifierLogits(full), 'logits', f'{name}_classifier'
    if getattr(full, 'neck', None) is None:
        raise ValueError(f'--neck: the model of {args.config} ({type(full).__name__}) has no neck')
    return BackboneNeck(full.backbone, full.neck), 'fpn', f'{name}_backbone_neck'


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    model, output_names, name = build(args)
    model.eval()
    out = args.out or osp.join('work_dirs', 'onnx', f'{name}.onnx')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    size = (224, 224)
    output_names = export_onnx(model, out, output_names, size, opset=args.opset)
    print(f'weights: {args.checkpoint or f"random initialisation (seed {args.seed})"}')
    print(f'exported {name} to {out} (opset {args.opset}, traced at {size[0]}x{size[1]}, '
          f'dynamic batch/height/width, outputs: {", ".join(output_names)})')
    shapes = [(args.batch, 3, h, w) for h, w in args.shapes]
    worst = 0.
    for shape, diff in compare_with_onnxruntime(model, out, shapes, seed=args.seed):
        print(f'input {shape}: max |PyTorch - onnxruntime| = {diff:.3g}')
        worst = max(worst, diff)
    if worst > args.tol:
        print(f'FAILED: max difference {worst:.3g} > --tol {args.tol:g}', file=sys.stderr)
        return 1
    print(f'OK: max difference {worst:.3g} <= --tol {args.tol:g}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
