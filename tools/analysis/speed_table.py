"""The project's speed results as one CSV (timm's benchmark-results style) and a bar chart.

    python tools/analysis/speed_table.py                    # everything, ~an hour on a CPU
    python tools/analysis/speed_table.py --parts backbones --archs litv2_s \
        --shapes 224x224 --precisions fp32 bf16 --runs 10 --warmup 2
    python tools/analysis/speed_table.py --parts whole --models retinanet upernet --append

One row per model, input (H x W), batch, precision, runtime and mode, with images/s,
median latency, peak memory, the CPU, the library versions and the date (UTC): the columns
of ``litv2_mm.analysis.speed_table.SpeedRow``. Writes ``--out`` (default
work_dirs/speed_table/speed.csv; ``--append`` adds to it), draws ``--plot`` (default the
CSV's name with .png), prints the whole table (markdown) to stdout and one line per
measured row to stderr.

Parts (``--parts``, default both):

* ``backbones``: LITv2 backbones (``--archs``, random init, the four stage outputs) at each
  of ``--shapes``, in PyTorch on the CPU (``litv2_mm.analysis.speed_table.backbone_rows``,
  timed by tools/analysis/benchmark.py's machinery): eager fp32, eager bf16 autocast (only
  where the CPU has native bf16) and, with ``--compile`` (the default), the same through
  ``torch.compile`` (inductor), mode 'compiled'; a compiled row's warm-up (at least one
  iteration) includes its compilation, which is never timed. Batch per input: timm's style,
  16 up to 384 x 384, 1 above (``--batches`` to choose). Peak memory: growth of the peak
  resident memory, one fresh subprocess per row (``--no-memory`` skips it).
* ``whole``: the detectors and segmentors of ``--models`` (RetinaNet and Mask R-CNN at
  800 x 1333, Semantic FPN and UperNet at 512 x 512) in PyTorch, ONNX Runtime and OpenVINO,
  fp32 / bf16 / int8 (``litv2_mm.analysis.deployed_speed.whole_model_rows``; exported
  models go to ``--work-dir``).
"""
import argparse
import os.path as osp
import sys

from litv2_mm.analysis.model_specs import ARCH_SPECS
from litv2_mm.analysis.speed_table import (FIELDS, backbone_rows, default_batch, format_float,
                                           format_markdown, plot, read_csv, read_header, write_csv)
from litv2_mm.models.cpu_inference import cpu_bf16

LITV2_ARCHS = [a for a in ARCH_SPECS if a.startswith('litv2_')]
PARTS = ('backbones', 'whole')
MODELS = ('retinanet', 'mask_rcnn', 'sem_fpn', 'upernet')


def parse_shape(text):
    """'224x224' -> (224, 224); ValueError for anything else."""
    h, sep, w = text.lower().partition('x')
    if not sep or not h.isdigit() or not w.isdigit() or min(int(h), int(w)) < 32:
        raise ValueError(text)
    return int(h), int(w)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', default=osp.join('work_dirs', 'speed_table', 'speed.csv'),
                        help='the CSV to write (default %(default)s)')
    parser.add_argument('--plot', help='the bar chart, PNG (default: --out with .png)')
    parser.add_argument('--append', action='store_true',
                        help='add the rows to an existing --out instead of overwriting it')
    parser.add_argument('--parts', nargs='+', choices=PARTS, default=list(PARTS),
                        help='what to measure (default both)')
    parser.add_argument('--archs', nargs='+', choices=LITV2_ARCHS, default=LITV2_ARCHS,
                        help='backbones part: LITv2 sizes (default all)')
    parser.add_argument('--shapes', nargs='+', default=['224x224', '800x1344'], metavar='HxW',
                        help='backbones part: inputs, H x W (default %(default)s)')
    parser.add_argument('--batches', nargs='+', type=int, metavar='N',
                        help='backbones part: batch per --shapes entry, or one for all '
                             '(default 16 up to 384 x 384, else 1)')
    parser.add_argument('--precisions', nargs='+', choices=('fp32', 'bf16'),
                        default=['fp32', 'bf16'],
                        help='backbones part: fp32 and / or bf16 autocast (bf16 only on a CPU '
                             'with native bf16)')
    parser.add_argument('--compile', action=argparse.BooleanOptionalAction, default=True,
                        help='backbones part: also time torch.compile (default on)')
    parser.add_argument('--no-memory', action='store_true',
                        help='backbones part: skip the peak-memory measurement')
    parser.add_argument('--models', nargs='+', default=list(MODELS),
                        help='whole part: models (default %(default)s)')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'speed_table'),
                        help='whole part: where exported models go (default %(default)s)')
    parser.add_argument('--runs', type=int, default=30, help='timed iterations per row')
    parser.add_argument('--warmup', type=int, default=5,
                        help='untimed iterations per row (compiled rows: at least 1)')
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error(f'--runs must be an integer >= 1, got {args.runs}')
    if args.warmup < 0:
        parser.error(f'--warmup must be an integer >= 0, got {args.warmup}')
    try:
        args.shapes = [parse_shape(s) for s in args.shapes]
    except ValueError as err:
        parser.error(f'--shapes takes HxW with sides >= 32 (e.g. 224x224), got {err}')
    if args.batches is not None:
        if len(args.batches) not in (1, len(args.shapes)) or min(args.batches) < 1:
            parser.error(f'--batches takes one integer >= 1 per --shapes entry or one for '
                         f'all, got {args.batches}')
        args.batches = dict(zip(args.shapes, args.batches * len(args.shapes)))
    if args.append and osp.isfile(args.out) and read_header(args.out) != FIELDS:
        parser.error(f'--append: {args.out} has the columns {read_header(args.out)}, not '
                     f'those of a speed table ({FIELDS}); give another --out')
    args.plot = args.plot or osp.splitext(args.out)[0] + '.png'
    return args


def report(row):
    memory = ('' if row.peak_memory_mb is None
              else f', peak {format_float(row.peak_memory_mb)} MiB')
    print(f'[speed_table] {row.model} {row.input_size} batch {row.batch} {row.runtime} '
          f'{row.mode} {row.precision}: {format_float(row.img_per_s)} img/s, '
          f'{format_float(row.latency_ms)} ms{memory}', file=sys.stderr, flush=True)


def main(argv=None):
    args = parse_args(argv)
    rows = read_csv(args.out) if args.append and osp.isfile(args.out) else []
    if 'backbones' in args.parts:
        if 'bf16' in args.precisions and cpu_bf16() != 'native':
            print(f'[speed_table] no bf16 rows: bf16 on this CPU is {cpu_bf16()}, not native',
                  file=sys.stderr)
        batch_for_shape = args.batches.__getitem__ if args.batches else default_batch
        rows += backbone_rows(args.archs, args.shapes, args.precisions, args.compile,
                              args.runs, args.warmup, batch_for_shape,
                              memory=not args.no_memory, on_row=report)
        write_csv(rows, args.out)  # kept should a later part fail
    if 'whole' in args.parts:
        from litv2_mm.analysis.deployed_speed import whole_model_rows
        whole = whole_model_rows(models=args.models, runs=args.runs, warmup=args.warmup,
                                 work_dir=args.work_dir)
        for row in whole:
            report(row)
        rows += whole
        write_csv(rows, args.out)
    plot(rows, args.plot)
    print(f'[speed_table] wrote {args.out} and {args.plot}', file=sys.stderr)
    print(format_markdown(rows))
    return rows


if __name__ == '__main__':
    main()
