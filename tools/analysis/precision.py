"""Stage outputs of a LITv2 backbone under autocast (fp16, bf16) against fp32.

    python tools/analysis/precision.py --arch small --shape 224 224 --batch 2
    python tools/analysis/precision.py --shape 800 1344 --checkpoint litv2_s.pth --trust-checkpoint
    python tools/analysis/precision.py --offset-std 0.02      # DTM offsets as after training

Prints, per autocast dtype, the relative difference ||y - y_fp32|| / ||y_fp32|| of each
stage output (inference, eval mode, no grad: on a CPU the fp32 and bf16 runs take the CPU
speed-ups). Weights: ``init_weights()`` (DTM's offsets are then zero), a checkpoint loaded
through ``init_cfg`` (the authors' layout or ours), and ``--offset-std`` draws DTM's offset
convs from N(0, std) so that the deformable sampling is exercised.
"""
import argparse

import torch

from litv2_mm.analysis.precision import autocast_errors
from litv2_mm.checkpoint import TRUSTED_PREFIX
from litv2_mm.models import LITv2

DTYPES = dict(fp16=torch.float16, bf16=torch.bfloat16)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--arch', default='small', help="'small' | 'medium' | 'base'")
    parser.add_argument('--shape', type=int, nargs=2, default=(224, 224), metavar=('H', 'W'))
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--dtype', nargs='+', choices=sorted(DTYPES), default=['fp16', 'bf16'])
    parser.add_argument('--checkpoint', help='weights to load through init_cfg')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow pickled objects in CHECKPOINT (only for files you trust)')
    parser.add_argument('--offset-std', type=float, default=0.,
                        help="draw DTM's offset conv weights from N(0, std)")
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.manual_seed(args.seed)
    init_cfg = None
    if args.checkpoint:
        prefix = TRUSTED_PREFIX if args.trust_checkpoint else ''
        init_cfg = dict(type='Pretrained', checkpoint=prefix + args.checkpoint)
    model = LITv2(arch=args.arch, drop_path_rate=0., init_cfg=init_cfg)
    model.init_weights()
    if args.offset_std > 0:
        for m in model.modules():
            if hasattr(m, 'conv_offset'):
                torch.nn.init.normal_(m.conv_offset.weight, std=args.offset_std)
    model = model.to(args.device).eval()
    images = torch.randn(args.batch, 3, *args.shape, device=args.device)
    errors = autocast_errors(model, images, [DTYPES[d] for d in args.dtype],
                             torch.device(args.device).type)
    weights = args.checkpoint or 'init_weights()'
    if args.offset_std:
        weights += f', DTM offsets N(0, {args.offset_std})'
    print(f'LITv2-{args.arch}, {weights}, batch {args.batch} at {args.shape[0]} x '
          f'{args.shape[1]}, {args.device}, torch {torch.__version__}')
    print('| autocast | ' + ' | '.join(f'stage {i + 1}' for i in range(4)) + ' |')
    print('|---|---|---|---|---|')
    for name, dtype in zip(args.dtype, errors):
        print(f'| {name} | ' + ' | '.join(f'{100 * e:.3f} %' for e in errors[dtype]) + ' |')
    return errors


if __name__ == '__main__':
    main()
