"""Throughput (images/s) and peak memory of a backbone, classifier, detector or segmentor.

    python tools/analysis/benchmark.py --arch litv2_s                  # paper protocol
    python tools/analysis/benchmark.py CONFIG [--batch 1 --shape 800 1333]
    python tools/analysis/benchmark.py --compare     # LITv2-S fast, reference, Swin-T, R-50
    python tools/analysis/benchmark.py --compare litv2_s resnet50 CONFIG:reference
    python tools/analysis/benchmark.py --compare litv2_s litv2_s:reference --breakdown

``--mode inference|training`` times inference (no grad, the default) or a training step
(forward + backward of the sum of the output means, train mode with dropout and drop-path
off, no optimizer step); ``--mode inference training`` times every model in both, side by
side in the same interleaved rounds (``--train-step`` = ``--mode training``).

``--dtype bf16|fp16`` runs the models under autocast to that dtype (weights kept in fp32, as
``--amp`` and ``test_cfg.fp16`` do); ``--dtype fp32 bf16`` times each model in both, side by
side in the same interleaved rounds.

Paper protocol by default: batch 64 at 224 x 224 (detectors: batch 1 at 800 x 1280,
segmentors: batch 1 at 512 x 512), fp32, no grad, warm-up iterations, then 30 timed
iterations. Several models (``--compare``) are timed in interleaved rounds, one iteration of
each per round, to cancel machine noise; imgs/s = batch / median iteration time. Peak
memory is measured per model in a fresh subprocess (CUDA: max_memory_allocated; CPU: growth
of the peak resident memory). What a detector / segmentor runs: ``TensorForward`` in
litv2_mm/analysis/model_specs.py (no NMS or other post-processing). ``--breakdown`` (CPU)
then profiles each model and prints its time by kind of op (GEMMs, attention kernels,
convolutions, copies, the rest).

Model SPECs: litv2_s | litv2_m | litv2_b [:fast|:reference], swin_t (mmdet Swin-T),
resnet50 (mmdet ResNet-50), or a config path [:fast|:reference]. ``:fast`` (the default) is
litv2_mm's LITv2; ``:reference`` the authors' formulation with the same weights
(litv2_mm/analysis/reference.py), the baseline.
"""
import argparse

import torch
from mmengine.config import DictAction

from litv2_mm.analysis.benchmark import (AMP_DTYPES, MODES, Settings, format_table, machine_info,
                                         run_benchmark)
from litv2_mm.analysis.model_specs import (ARCH_SPECS, DEFAULT_BATCHES, DEFAULT_SHAPES, parse_spec,
                                           spec_kind)
from litv2_mm.analysis.time_breakdown import TITLE, format_breakdown
from litv2_mm.models.cpu_inference import cpu_bf16

DEFAULT_COMPARE = ('litv2_s:fast', 'litv2_s:reference', 'swin_t', 'resnet50')
MODE_TITLES = dict(inference='inference, no grad',
                   training='train step (forward + backward), dropout / drop-path off')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Throughput and peak memory of LITv2 and other models (paper protocol)',
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='SPEC: litv2_s|litv2_m|litv2_b[:fast|:reference], swin_t, resnet50, '
               'or CONFIG[:fast|:reference]')
    parser.add_argument('config', nargs='?', help='mmdet / mmseg / mmpretrain config file')
    parser.add_argument('--arch', choices=ARCH_SPECS, help='a bare backbone instead of a config')
    parser.add_argument('--compare', nargs='*', metavar='SPEC',
                        help='models side by side, timed in interleaved rounds (no SPEC: '
                             + ', '.join(DEFAULT_COMPARE) + ')')
    parser.add_argument('--batch', type=int,
                        help='images per iteration (default 64; detectors / segmentors 1)')
    parser.add_argument('--shape', type=int, nargs='+', metavar='N',
                        help='input H W, or one size for a square (default by model kind: '
                             '224 224, detectors 800 1280, segmentors 512 512)')
    parser.add_argument('--runs', type=int, default=30,
                        help='timed iterations per model')
    parser.add_argument('--warmup', type=int,
                        help='warm-up iterations per model (default 50 on CUDA, 5 on CPU)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--dtype', choices=['fp32', *sorted(AMP_DTYPES)], nargs='+',
                        default=['fp32'],
                        help='precision(s): fp32, or autocast to bf16 / fp16 (the weights stay '
                             'fp32, as under --amp and test_cfg.fp16; on a CPU, bf16 takes '
                             'the CPU speed-ups, fp16 runs the plain model and is far slower '
                             'than fp32). Several: every model in each, timed interleaved')
    parser.add_argument('--channels-last', action='store_true',
                        help='model and input in channels-last memory format')
    parser.add_argument('--compile', action='store_true', help='torch.compile the models')
    parser.add_argument('--mode', choices=MODES, nargs='+',
                        help="what a step runs: 'inference' (forward under no_grad, eval "
                             "mode; the default) or 'training' (forward + backward of the sum "
                             'of the output means, train mode with dropout and drop-path off, '
                             'gradients set to None before each step, no optimizer step). '
                             'Both: every model in each, timed interleaved, side by side')
    parser.add_argument('--train-step', action='store_true',
                        help='the same as --mode training')
    parser.add_argument('--no-memory', action='store_true',
                        help='skip the peak-memory measurement (one subprocess per model)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--breakdown', action='store_true',
                        help='(CPU) also profile each model and print its time by kind of op')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of config models, key=value')
    args = parser.parse_args(argv)
    for flag, minimum in dict(batch=1, runs=1, warmup=0).items():
        value = getattr(args, flag)
        if value is not None and value < minimum:
            parser.error(f'--{flag} must be an integer >= {minimum}, got {value}')
    given = [args.config is not None, args.arch is not None, args.compare is not None]
    if sum(given) != 1:
        parser.error('give exactly one of CONFIG, --arch or --compare')
    if args.shape is not None and (len(args.shape) not in (1, 2) or min(args.shape) < 1):
        parser.error(f'--shape takes H W or one size (integers >= 1), got {args.shape}')
    if args.train_step:
        if args.mode not in (None, ['training']):
            parser.error('--train-step is --mode training: give one of them')
        args.mode = ['training']
    args.mode = args.mode or ['inference']
    if len(set(args.mode)) != len(args.mode):
        parser.error(f'--mode: each mode once, got {" ".join(args.mode)}')
    if args.breakdown and args.device != 'cpu':
        parser.error('--breakdown profiles CPU ops: it needs --device cpu')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device available')
    specs = args.compare if args.compare is not None else [args.arch or args.config]
    args.specs = list(specs or DEFAULT_COMPARE)
    for spec in args.specs:
        try:
            parse_spec(spec)
        except ValueError as err:
            parser.error(str(err))
    return args


def main(argv=None):
    args = parse_args(argv)
    kind = spec_kind(args.specs[0])
    settings = Settings(
        batch=args.batch or DEFAULT_BATCHES[kind],
        shape=tuple((args.shape * 2)[:2]) if args.shape else DEFAULT_SHAPES[kind],
        device=args.device, channels_last=args.channels_last,
        compile=args.compile, cfg_options=args.cfg_options)
    warmup = args.warmup if args.warmup is not None else (50 if args.device == 'cuda' else 5)
    results = run_benchmark(args.specs, settings, runs=args.runs, warmup=warmup,
                            memory=not args.no_memory, progress=not args.no_progress,
                            breakdown_runs=min(args.runs, 3) if args.breakdown else 0,
                            precisions=[None if d == 'fp32' else d for d in args.dtype],
                            modes=args.mode)
    mode = ' / '.join(MODE_TITLES[m] for m in args.mode)
    precision = ' / '.join('fp32' if d == 'fp32' else f'autocast {d} (fp32 weights)'
                           for d in args.dtype)
    if args.device == 'cpu' and 'bf16' in args.dtype and cpu_bf16() != 'native':
        precision += ' [this CPU has no native bf16: emulated, slower than fp32]'
    extras = [x for x, on in (('channels-last', args.channels_last),
                              ('torch.compile', args.compile)) if on]
    print(f'\n{machine_info(args.device)}')
    print(f'{mode}, {precision}{"".join(", " + e for e in extras)}, batch {settings.batch}, '
          f'input {settings.shape[0]} x {settings.shape[1]} (H x W), {args.device}, '
          f'{warmup} warm-up + {args.runs} timed iterations, interleaved\n')
    print(format_table(results, settings))
    if args.breakdown:
        print(f'\n{TITLE}\n')
        print(format_breakdown({r.name: r.breakdown for r in results}))
    return results


if __name__ == '__main__':
    main()
