"""Parameters and FLOPs (multiply-adds) of a backbone, classifier, detector or segmentor.

    python tools/analysis/get_flops.py CONFIG [--shape H W]
    python tools/analysis/get_flops.py --arch litv2_s [--shape H W]

Two counts side by side (litv2_mm/analysis/flops.py says exactly what each includes):

* authors' count: mmcv 1.x's module-level count plus the HiLo attention matrix products
  by formula, the way the LITv2 paper's detection / segmentation FLOPs were counted
  (RetinaNet LITv2-S, 1280 x 800: 242.39G; Semantic FPN LITv2-S, 512 x 512: 41.29G);
* complete count: every multiply-add of the traced forward (mmengine's FlopAnalyzer plus
  handlers for fused attention, pooling and the deformable sampling).

What runs: see ``TensorForward`` in litv2_mm/analysis/model_specs.py (detectors: backbone,
neck and head outputs, no NMS; segmentors: backbone, neck, decode head). ``--shape`` is
H W of the input tensor (1, 3, H, W); defaults: 800 1280 for detectors (the paper's
"1280 x 800" is W x H), 512 512 for segmentors, 224 224 otherwise.
"""
import argparse

import torch
from mmengine.config import DictAction

from litv2_mm.analysis.flops import authors_count, complete_count
from litv2_mm.analysis.model_specs import ARCH_SPECS, DEFAULT_SHAPES, build_model, count_parameters


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Parameters and FLOPs of a LITv2 (or any OpenMMLab) model, in the '
                    "authors' count and the complete count")
    parser.add_argument('config', nargs='?', help='mmdet / mmseg / mmpretrain config file')
    parser.add_argument('--arch', choices=ARCH_SPECS, help='a bare backbone instead of a config')
    parser.add_argument('--shape', type=int, nargs='+', metavar='N',
                        help='input H W (one number: square); default by model kind')
    parser.add_argument('--count', choices=('authors', 'complete', 'both'), default='both',
                        help='which count(s) to print')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if (args.config is None) == (args.arch is None):
        parser.error('give either CONFIG or --arch (exactly one)')
    if args.shape is not None and (len(args.shape) not in (1, 2) or min(args.shape) < 1):
        parser.error(f'--shape takes H W (or one size), positive, got {args.shape}')
    if args.arch and args.cfg_options:
        parser.error('--cfg-options needs a CONFIG')
    return args


def fmt(value, unit=None):
    """Multiply-adds or parameters as G / M (``unit`` None: G from 0.1G up, else M)."""
    unit = unit or ('G' if value >= 1e8 else 'M')
    return f'{value / dict(G=1e9, M=1e6)[unit]:.2f}{unit}'


def print_table(counts):
    """Markdown table: one column per count, one row per model part, then the totals."""
    def row(label, cells):
        print(f'| {label} | ' + ' | '.join(cells) + ' |')

    row('part', list(counts))
    print('|---|' + '---|' * len(counts))
    parts = dict.fromkeys(p for c in counts.values() for p in c.parts)
    for part in parts:
        if any(c.parts.get(part) for c in counts.values()):
            row(part, [fmt(c.parts.get(part, 0)) for c in counts.values()])
    if counts.get("authors' count") and counts["authors' count"].attention:
        row('of which attention products (formula)',
            [fmt(c.attention) if n == "authors' count" else '(in parts)'
             for n, c in counts.items()])
    row('**total**', [f'**{fmt(c.total)}**' for c in counts.values()])


def main(argv=None):
    args = parse_args(argv)
    spec = args.arch or args.config
    built = build_model(spec, cfg_options=args.cfg_options)
    H, W = (args.shape * 2)[:2] if args.shape else DEFAULT_SHAPES[built.kind]
    images = torch.zeros(1, 3, H, W)
    counts = {}
    if args.count in ('authors', 'both'):
        counts["authors' count"] = authors_count(built.module, images)
    if args.count in ('complete', 'both'):
        counts['complete count'] = complete_count(built.module, images)
    n_params, n_trainable = count_parameters(built.module)

    print(f'\nmodel: {built.name} ({built.kind}), input (1, 3, {H}, {W}) = {W} x {H} (W x H)')
    print_table(counts)
    trainable = f' ({fmt(n_trainable, "M")} trainable)' if n_trainable != n_params else ''
    print(f'\nparams: {fmt(n_params, "M")}{trainable}')
    complete = counts.get('complete count')
    if complete is not None and complete.skipped:
        ops = ', '.join(sorted(op.split('::')[-1] for op in complete.skipped))
        print(f'complete count: ops run without a FLOPs rule (not counted): {ops}')
    return counts, n_params


if __name__ == '__main__':
    main()
