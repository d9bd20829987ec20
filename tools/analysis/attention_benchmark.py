"""One attention layer, HiLo against the usual alternatives (the paper's Fig. 6 setting).

    python tools/analysis/attention_benchmark.py [--batch 64] [--tokens 14] [--runs 30]
        [--mode inference training] [--window 8] [--alpha 0.5]
        [--devices cpu cuda] [--out work_dirs/attention_benchmark.png] [--no-breakdown]

14 x 14 tokens, dim 768, 12 heads, batch 64: HiLo (s = 2, alpha 0.9; the fast module and the
plain reference), multi-head self-attention (explicit matmul + softmax, and fused
``scaled_dot_product_attention``), PVT's spatial-reduction attention (sr 2) and Swin-style
local window attention (7 x 7, no shift). Layers in litv2_mm/analysis/attention_variants.py.
``--window S`` sets both HiLo's window s and the local windows' side, ``--alpha`` HiLo's
Lo-Fi share of heads (e.g. ``--tokens 64 --window 8 --alpha 0.5``, ziplab/LITv2#14).
``--mode``: ``inference`` (forward under no_grad, eval mode; the default), ``training``
(forward + backward of the mean of the output, train mode with dropout off, the gradients
of the parameters and of the input set to None before each step, no optimizer step), or
both, every layer in each, timed in the same interleaved rounds.
Prints params, FLOPs (projections + attention products, the paper's convention; the
paper's own figures beside them) and ms/iter, imgs/s and the speed against MSA (SDPA) per
device and mode, timed in interleaved rounds, and saves a bar chart of the throughput. On
the CPU it then profiles every layer and prints where its time goes (GEMMs, attention
kernels, copies, the rest) and the floor that HiLo's GEMMs and attention kernels set: how
fast HiLo could be against MSA if everything else cost nothing.
"""
import argparse
import os
import os.path as osp
import statistics

import torch

from litv2_mm.analysis.attention_variants import PAPER_FIG6_FLOPS, comparison_layers
from litv2_mm.analysis.benchmark import (MODES, machine_info, make_forward_step, set_mode,
                                         time_interleaved)
from litv2_mm.analysis.time_breakdown import TITLE, floor, format_breakdown, time_by_kind


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Throughput and FLOPs of one attention layer (the paper's Fig. 6)")
    parser.add_argument('--batch', type=int, default=64, help='images per iteration')
    parser.add_argument('--tokens', type=int, default=14,
                        help='map side: tokens x tokens (default 14)')
    parser.add_argument('--dim', type=int, default=768, help='channels')
    parser.add_argument('--heads', type=int, default=12, help='attention heads')
    parser.add_argument('--window', type=int,
                        help="HiLo's window s and the local window attention's window side "
                             '(default: 2 and 7, the paper\'s Fig. 6); --tokens must be a '
                             'multiple of it')
    parser.add_argument('--alpha', type=float, default=0.9,
                        help="HiLo's share of Lo-Fi heads, in [0, 1] (default 0.9)")
    parser.add_argument('--mode', choices=MODES, nargs='+', default=['inference'],
                        help="'inference' (no grad; the default), 'training' (forward + "
                             'backward), or both, side by side, timed interleaved')
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
    for flag, minimum in dict(batch=1, tokens=1, dim=1, heads=1, runs=1, warmup=0,
                              window=1).items():
        value = getattr(args, flag)
        if value is not None and value < minimum:
            parser.error(f'--{flag} must be an integer >= {minimum}, got {value}')
    if args.dim % args.heads:
        parser.error(f'--heads {args.heads} must divide --dim {args.dim}')
    if not 0 <= args.alpha <= 1:
        parser.error(f'--alpha must lie in [0, 1], got {args.alpha}')
    if args.window is not None and args.tokens % args.window:
        parser.error(f'--tokens {args.tokens} must be a multiple of --window {args.window} '
                     "(HiLo's window and the local windows)")
    if args.tokens % 2:
        parser.error(f"--tokens {args.tokens} must be even (SRA's sr_ratio 2)")
    if len(set(args.mode)) != len(args.mode):
        parser.error(f'--mode: each mode once, got {" ".join(args.mode)}')
    if args.devices is None:
        args.devices = ['cpu'] + (['cuda'] if torch.cuda.is_available() else [])
    elif 'cuda' in args.devices and not torch.cuda.is_available():
        parser.error('--devices cuda: no CUDA device available')
    return args


def paper_flops(name):
    return next((v for k, v in PAPER_FIG6_FLOPS.items() if name.startswith(k)), None)


def build_layers(args):
    """{name: layer} of the comparison at the settings of ``args``."""
    windows = {} if args.window is None else dict(window_size=args.window,
                                                  local_window=args.window)
    return comparison_layers(args.dim, args.heads, alpha=args.alpha, **windows)


def make_layers(device, args):
    """-> {(name, mode): (layer, x)}: a fresh copy of the layers per mode in ``args.mode``
    on ``device``, in eval mode for inference and in train mode (dropout off) for training,
    and a random batch x per mode (requiring grad for training)."""
    H = W = args.tokens
    layers = {}
    for mode in args.mode:
        training = mode == 'training'
        x = torch.randn(args.batch, H * W, args.dim, device=device, requires_grad=training)
        for name, layer in build_layers(args).items():
            layers[name, mode] = set_mode(layer.to(device), training), x
    return layers


def make_steps(device, args, layers=None):
    """-> {(name, mode): step()}, one step of every layer of :func:`make_layers` (or of
    ``layers``): a no-grad forward, or for training forward + backward, the gradients of the
    layer's parameters and of x set to None before each step (:func:`make_forward_step`)."""
    H = W = args.tokens
    layers = make_layers(device, args) if layers is None else layers
    return {(name, mode): make_forward_step(lambda layer=layer, x=x: layer(x, H, W),
                                            mode == 'training', [*layer.parameters(), x])
            for (name, mode), (layer, x) in layers.items()}


def time_layers(device, args):
    """-> {mode: {name: [seconds per iteration]}} on ``device``, every layer in every mode
    timed in the same interleaved rounds."""
    steps = make_steps(device, args)
    times = time_interleaved(steps, args.runs, args.warmup, device, not args.no_progress)
    by_mode = {mode: {} for mode in args.mode}
    for (name, mode), t in times.items():
        by_mode[mode][name] = t
    return by_mode


def print_breakdown(args, hilo='HiLo (fast)', msa='MSA (SDPA)'):
    """Profile every layer on the CPU in every mode, print where the time goes and HiLo's
    floor vs MSA -> {mode: {name: time_by_kind(...)}}."""
    steps = make_steps('cpu', args)
    result = {}
    for mode in args.mode:
        breakdowns = {name: time_by_kind(step, runs=min(args.runs, 5))
                      for (name, m), step in steps.items() if m == mode}
        print(f'\n{mode}: {TITLE}\n')
        print(format_breakdown(breakdowns))
        if hilo in breakdowns and msa in breakdowns:
            b_hilo, b_msa = breakdowns[hilo], breakdowns[msa]
            print(f'\nprofiled, {msa} / {hilo}: {b_msa["total"] / b_hilo["total"]:.2f}x; with '
                  f'nothing but its GEMMs and attention kernels, {hilo} would be '
                  f'{b_msa["total"] / floor(b_hilo):.2f}x as fast as {msa} (the ceiling with '
                  f'these kernels on this machine)')
        result[mode] = breakdowns
    return result


def format_table(layers, times, args, baseline='MSA (SDPA)'):
    """Markdown table: layer, params, FLOPs (and the paper's at its setting), then per
    device and mode ms/iter, imgs/s and the speed against ``baseline``."""
    H = W = args.tokens
    fig6 = ((args.tokens, args.dim, args.heads, args.window, args.alpha)
            == (14, 768, 12, None, 0.9))
    header = ['layer', 'params', 'FLOPs'] + (['paper FLOPs'] if fig6 else [])
    for d, by_mode in times.items():
        for mode in by_mode:
            header += [f'{d.upper()} {mode} ms/iter', f'{d.upper()} {mode} imgs/s',
                       f'{d.upper()} {mode} vs {baseline}']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, layer in layers.items():
        row = [name, f'{sum(p.numel() for p in layer.parameters()) / 1e6:.2f}M',
               f'{layer.flops(H, W) / 1e6:.1f}M']
        if fig6:
            ref = paper_flops(name)
            row.append(f'{ref / 1e6:.0f}M' if ref else '-')
        for by_mode in times.values():
            for by_name in by_mode.values():
                median = statistics.median(by_name[name])
                base = statistics.median(by_name[baseline])
                row += [f'{1e3 * median:.1f}', f'{args.batch / median:.1f}',
                        f'{base / median:.2f}x']
        lines.append('| ' + ' | '.join(row) + ' |')
    return '\n'.join(lines)


def plot(speeds, out):
    """Horizontal bars of imgs/s, one panel per device and mode.
    ``speeds``: {device: {mode: {name: imgs/s}}}."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    panels = [(f'{device.upper()} {mode}', by_name) for device, by_mode in speeds.items()
              for mode, by_name in by_mode.items()]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 3.6), squeeze=False)
    for ax, (title, by_name) in zip(axes[0], panels):
        names = list(by_name)
        colors = ['tab:orange' if n.startswith('HiLo') else 'tab:blue' for n in names]
        ax.barh(names, [by_name[n] for n in names], color=colors)
        ax.invert_yaxis()
        ax.set_xlabel('images / s')
        ax.set_title(title)
        for i, n in enumerate(names):
            ax.text(by_name[n], i, f' {by_name[n]:.0f}', va='center', fontsize=8)
    fig.tight_layout()
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)


def main(argv=None):
    """-> {device: {mode: {layer name: imgs/s}}}."""
    args = parse_args(argv)
    H = W = args.tokens
    layers = build_layers(args)
    times = {d: time_layers(d, args) for d in args.devices}
    speeds = {d: {mode: {n: args.batch / statistics.median(t) for n, t in by_name.items()}
                  for mode, by_name in by_mode.items()} for d, by_mode in times.items()}
    hilo = layers['HiLo (fast)']
    local = next(n for n in layers if n.startswith('local window'))
    modes = ' and '.join('no grad' if m == 'inference' else 'forward + backward (train mode)'
                         for m in args.mode)
    print(f'\n{machine_info("cuda" if "cuda" in args.devices else "cpu")}')
    print(f'one layer, {H} x {W} tokens, dim {args.dim}, {args.heads} heads, batch {args.batch}, '
          f'HiLo window {hilo.window_size} alpha {args.alpha:g} ({hilo.hifi_heads} Hi-Fi / '
          f'{hilo.lofi_heads} Lo-Fi heads), {local}, fp32, {modes}, {args.runs} timed '
          'iterations (median), interleaved\n')
    print(format_table(layers, times, args))
    if args.out:
        plot(speeds, args.out)
        print(f'\nchart: {args.out}')
    if 'cpu' in args.devices and not args.no_breakdown:
        print_breakdown(args)
    return speeds


if __name__ == '__main__':
    main()
