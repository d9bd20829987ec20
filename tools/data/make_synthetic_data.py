"""Generate the synthetic datasets of litv2_mm.synthetic_data.

Datasets go to OUT/<name> (coco, ade, coco2017, ade20k, imagenet; ade20k holds the
ADEChallengeData2016 folder) and are only rewritten when missing, made with other
parameters, or with --force. OUT defaults to data/generated below the current directory.
--num-train / --num-val count images per class for imagenet. Example:
    python tools/data/make_synthetic_data.py --which coco --num-train 20 --num-val 5 --size 128
"""
import argparse
from pathlib import Path

from litv2_mm.synthetic_data import DEFAULT_ROOT, ENSURE_FUNCTIONS, ensure_datasets, load_meta


def build_parser():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', '--out-dir', dest='out', type=Path, default=DEFAULT_ROOT,
                        help=f'root folder (default {DEFAULT_ROOT})')
    parser.add_argument('--which', choices=(*ENSURE_FUNCTIONS, 'all'), default='all')
    parser.add_argument('--num-train', type=int,
                        help='training images (default 200 coco, 100 ade, 2 coco2017/ade20k, 4 per class imagenet)')
    parser.add_argument('--num-val', type=int,
                        help='validation images (default 50 coco, 30 ade, 2 coco2017/ade20k, 2 per class imagenet)')
    parser.add_argument('--size', type=int, nargs='+', metavar='SIDE',
                        help='image side, or H W (default 256 coco, 128 ade, 480 640 coco2017, 512 683 ade20k, '
                             '72 96 imagenet)')
    parser.add_argument('--seed', type=int, help='base seed (default 0)')
    parser.add_argument('--force', action='store_true', help='regenerate even if up to date')
    return parser


def _nonzero(counts):
    return ', '.join(f'{name} {n}' for name, n in counts.items() if n) or 'none'


def describe(name, path, meta, state):
    """Multi-line report of one dataset from its meta.json record."""
    params = meta['params']
    h, w = params['image_size']
    lines = [f"{name} ({state}): {path}  [{h}x{w}, seed {params['seed']}, version {meta['version']}]"]
    for split, stats in meta['summary'].items():
        if 'per_category' in stats:
            lines.append(f"  {split}: {stats['images']} images, {stats['annotations']} annotations | "
                         f"{_nonzero(stats['per_category'])}")
        elif 'per_class' in stats:
            lines.append(f"  {split}: {stats['images']} images | {_nonzero(stats['per_class'])}")
        else:
            shares = ', '.join(f'{cls} {n} img / {100 * stats["pixel_share"][cls]:.1f}% px'
                               for cls, n in stats['images_per_class'].items())
            lines.append(f"  {split}: {stats['images']} images | {shares}")
    return '\n'.join(lines)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.size is not None and len(args.size) > 2:
        parser.error(f'--size takes SIDE or H W, got {args.size}')
    size = None if args.size is None else args.size[0] if len(args.size) == 1 else tuple(args.size)
    params = {key: value for key, value in
              dict(num_train=args.num_train, num_val=args.num_val, image_size=size, seed=args.seed).items()
              if value is not None}
    before = {name: load_meta(args.out / name) for name in ENSURE_FUNCTIONS}
    try:
        dirs = ensure_datasets(args.out, args.which, force=args.force, progress=True, **params)
    except ValueError as error:
        parser.error(str(error))
    for name, path in dirs.items():
        meta = load_meta(args.out / name)
        print(describe(name, path, meta, 'generated' if args.force or meta != before[name] else 'up to date'))


if __name__ == '__main__':
    main()
