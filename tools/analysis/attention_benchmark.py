"""One attention layer, HiLo against the usual alternatives (the paper's Fig. 6 setting).

    python tools/analysis/attention_benchmark.py [--batch 64] [--tokens 14] [--runs 30]
        [--devices cpu cuda] [--out work_dirs/attention_benchmark.png] [--no-breakdown]

14 x 14 tokens, dim 768, 12 heads, batch 64: HiLo (s = 2, alpha 0.9; the fast module and the
plain reference), multi-head self-attention (explicit matmul + softmax, and fused
``scaled_dot_product_attention``), PVT's spatial-reduction attention (sr 2) and Swin-style
local window attention (7 x 7, no shift). Layers in litv2_mm/analysis/attention_variants.py.
Prints params, FLOPs (projections + attention products, the paper's convention; the
paper's own figures beside them) and imgs/s per device, timed in interleaved rounds, and
saves a bar chart of the throughput. On the CPU it then profiles every layer and prints
where its time goes (GEMMs, attention kernels, copies, the rest) and the floor that HiLo's
GEMMs and attention kernels set: how fast HiLo could be against MSA if everything else
cost nothing.
"""
import argparse
import os
import os.path as osp
import statistics

import torch

from litv2_mm.analysis.attention_variants import PAPER_FIG6_FLOPS, comparison_layers
from litv2_mm.analysis.benchmark import machine_info, time_interleaved
from litv2_mm.analysis.time_breakdown import TITLE, floor, format_breakdown, time_by_kind


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Throughput and FLOPs of one attention layer (the paper's Fig. 6)")
    parser.add_argument('--batch', type=int, default=64, help='images per iteration')
    parser.add_argument('--tokens', type=int, default=14,
                        help='map side: tokens x tokens (default 14)')
    parser.add_argument('--dim', type=int, default=768, help='channels')
    parser.add_argument('--heads', type=int, default=12, help='attention heads')
    parser.add_argument('--runs', type=int, default=30,
                        help='timed iterations per layer')
    parser.add_argument('--warmup', type=int, default=10,
                        help='warm-up iterations per layer')
    parser.add_argument('--devices', nargs='+', choices=('cpu', 'cuda'),
                        help='where to time (default: cpu, and cuda when available)')
    parser.add_argument('--out', default='work_dirs/attention_benchmark.png',
                        help="bar chart path ('' for none)")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--no-breakdown', action='store_true',
                        help='skip the CPU time breakdown (a profiled pass over every layer)')
    args = parser.parse_args(argv)
    for flag, minimum in dict(batch=1, tokens=1, dim=1, heads=1, runs=1, warmup=0).items():
        value = getattr(args, flag)
        if value is not None and value < minimum:
            parser.error(f'--{flag} must be an integer >= {minimum}, got {value}')
    if args.dim % args.heads:
        parser.error(f'--heads {args.heads} must divide --dim {args.dim}')
    if args.devices is None:
        args.devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    elif 'cuda' in args.devices and not torch.cuda.is_available():
        parser.error('--devices cuda: no CUDA device available')
    return args


def paper_flops(name):
    return next((v for k, v in PAPER_FIG6_FLOPS.items() if name.startswith(k)), None)


def make_steps(layers, device, args):
    """{name: layer} -> {name: step()}, one no-grad forward of a random batch on ``device``."""
    H = W = args.tokens
    x = torch.randn(args.batch, H * W, args.dim, device=device)
    steps = {}
    for name, layer in layers.items():
        layer = layer.to(device).eval()

        def step(layer=layer):
            with torch.no_grad():
                layer(x, H, W)
        steps[name] = step
    return steps


def time_layers(layers, device, args):
    """{name: layer} -> {name: imgs/s} on ``device``, interleaved rounds, no grad."""
    steps = make_steps(layers, device, args)
    times = time_interleaved(steps, args.runs, args.warmup, device, not args.no_progress)
    return {n: args.batch / statistics.median(t) for n, t in times.items()}


def print_breakdown(layers, args, hilo='HiLo (fast)', msa='MSA (SDPA)'):
    """Profile every layer on the CPU, print where the time goes and HiLo's floor vs MSA."""
    steps = make_steps(layers, 'cpu', args)
    breakdowns = {name: time_by_kind(step, runs=min(args.runs, 5)) for name, step in steps.items()}
    print(f'\n{TITLE}\n')
    print(format_breakdown(breakdowns))
    if hilo in breakdowns and msa in breakdowns:
        b_hilo, b_msa = breakdowns[hilo], breakdowns[msa]
        print(f'\nprofiled, {msa} / {hilo}: {b_msa["total"] / b_hilo["total"]:.2f}x; with '
              f'nothing but its GEMMs and attention kernels, {hilo} would be '
              f'{b_msa["total"] / floor(b_hilo):.2f}x as fast as {msa} (the ceiling with '
              f'these kernels on this machine)')
    return breakdowns


def plot(speeds, out):
    """Horizontal bars of imgs/s, one panel per device."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(speeds), figsize=(5.5 * len(speeds), 3.6), squeeze=False)
    for ax, (device, by_name) in zip(axes[0], speeds.items()):
        names = list(by_name)
        colors = ['tab:orange' if n.startswith('HiLo') else 'tab:blue' for n in names]
        ax.barh(names, [by_name[n] for n in names], color=colors)
        ax.invert_yaxis()
        ax.set_xlabel('images / s')
        ax.set_title(device.upper())
        for i, n in enumerate(names):
            ax.text(by_name[n], i, f' {by_name[n]:.0f}', va='center', fontsize=8)
    fig.tight_layout()
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    H = W = args.tokens
    layers = comparison_layers(args.dim, args.heads)
    speeds = {d: time_layers(layers, d, args) for d in args.devices}
    fig6 = (args.tokens, args.dim, args.heads) == (14, 768, 12)
    print(f'\n{machine_info("cuda" if "cuda" in args.devices else "cpu")}')
    print(f'one layer, {H} x {W} tokens, dim {args.dim}, {args.heads} heads, batch {args.batch}, '
          f'fp32, no grad, {args.runs} timed iterations (median), interleaved\n')
    header = ['layer', 'params', 'FLOPs'] + (['paper FLOPs'] if fig6 else [])
    header += [f'{d.upper()} imgs/s' for d in args.devices]
    print('| ' + ' | '.join(header) + ' |')
    print('|' + '---|' * len(header))
    for name, layer in layers.items():
        row = [name, f'{sum(p.numel() for p in layer.parameters()) / 1e6:.2f}M',
               f'{layer.flops(H, W) / 1e6:.1f}M']
        if fig6:
            ref = paper_flops(name)
            row.append(f'{ref / 1e6:.0f}M' if ref else '-')
        row += [f'{speeds[d][name]:.0f}' for d in args.devices]
        print('| ' + ' | '.join(row) + ' |')
    if args.out:
        plot(speeds, args.out)
        print(f'\nchart: {args.out}')
    if 'cpu' in args.devices and not args.no_breakdown:
        print_breakdown(layers, args)
    return speeds


if __name__ == '__main__':
    main()
