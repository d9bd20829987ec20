"""Frequency spectra of HiLo's Hi-Fi and Lo-Fi branch outputs (the paper's Figure 5).

Writes OUT_DIR/hilo_spectrum.png (log |FFT| of 8 channels per branch, two rows per layer,
averaged over the images) and OUT_DIR/hilo_radial_profile.png (mean |FFT| vs. radial
frequency, both branches of every layer on one plot). Images are read with the image loading
of the config's test pipeline, resized to --size and normalised as its data preprocessor
does (``litv2_mm.config.load_config_images``).

    python tools/analysis/spectrum.py configs/sem_fpn/litv2_s_synthetic.py \\
        --num-images 8 --size 128 --out-dir outputs/spectrum
"""
import argparse
import math
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction

from litv2_mm.analysis.spectrum import (BRANCHES, capture_branches, default_layers, mean_spectra,
                                        radial_profile)
from litv2_mm.apis import init_model
from litv2_mm.config import dataset_image_dir, list_images, load_config_images

BRANCH_LABELS = {'hifi': 'Hi-Fi', 'lofi': 'Lo-Fi'}


def _figure(width, height):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    fig = Figure(figsize=(width, height))
    FigureCanvasAgg(fig)
    return fig


def plot_spectrum_grid(spectra, path, num_channels=8, title=None, dpi=100):
    """Save log-magnitude spectra of the first ``num_channels`` channels: two rows (Hi-Fi,
    Lo-Fi) per layer. ``spectra``: ``{name: {branch: (C, H, W)}}`` (``mean_spectra``)."""
    rows = [(name, branch) for name in spectra for branch in BRANCHES]
    fig = _figure(1.2 * num_channels + 0.8, 1.3 * len(rows) + 0.6)
    axes = fig.subplots(len(rows), num_channels, squeeze=False)
    for r, (name, branch) in enumerate(rows):
        spec = spectra[name][branch]
        for c in range(num_channels):
            ax = axes[r][c]
            ax.set_xticks([])
            ax.set_yticks([])
            if c < spec.shape[0]:
                ax.imshow(torch.log(spec[c] + 1e-6).numpy(), cmap='viridis')
            else:
                ax.set_axis_off()
            if r == 0:
                ax.set_title(f'ch {c}', fontsize=8)
        axes[r][0].set_ylabel(f'{name}\n{BRANCH_LABELS[branch]}', fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


def plot_radial_profiles(spectra, path, title=None, dpi=100):
    """Save mean magnitude vs. normalised radial frequency of both branches of every layer
    on one plot (Hi-Fi solid, Lo-Fi dashed, one colour per layer)."""
    fig = _figure(5.5, 3.8)
    ax = fig.subplots()
    for i, (name, branches) in enumerate(spectra.items()):
        for branch, style in zip(BRANCHES, ('-', '--')):
            freqs, profile = radial_profile(branches[branch])
            ax.plot(freqs.numpy(), profile.numpy(), style, color=f'C{i % 10}', marker='.',
                    label=f'{name} {BRANCH_LABELS[branch]}')
    ax.set_yscale('log')
    ax.set_xlabel('normalised radial frequency (1 = Nyquist)')
    ax.set_ylabel('mean |FFT| (channels, images)')
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, ncol=max(1, math.ceil(len(spectra) / 4)))
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=dpi)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('config', help='config whose model.backbone is LITv2')
    parser.add_argument('--checkpoint', help='weights (any layout LITv2 loads); default: '
                                             'random initialisation')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow pickled objects in CHECKPOINT (only for files you trust)')
    parser.add_argument('--layers', nargs='+', metavar='STAGE.BLOCK',
                        help='HiLo layers, 0-based, e.g. 2.0 2.5 (default: every block of '
                             'stage index 2 with both branches)')
    parser.add_argument('--images', help='image folder (default: the config\'s test/val images)')
    parser.add_argument('--num-images', type=int, default=8, help='images to average over')
    parser.add_argument('--size', type=int, nargs='+', default=[224], metavar='SIDE',
                        help='resize images to SIDE or H W (default 224: a 14 x 14 stage-3 map)')
    parser.add_argument('--channels', type=int, default=8, help='channels shown per branch')
    parser.add_argument('--out-dir', default='outputs/spectrum', help='where the PNGs go')
    parser.add_argument('--seed', type=int, default=0, help='seed of the random initialisation')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    args = parser.parse_args(argv)
    if len(args.size) > 2 or min(args.size) < 32:
        parser.error(f'--size: one or two sides >= 32 expected, got {args.size}')
    if args.num_images < 1:
        parser.error(f'--num-images must be >= 1, got {args.num_images}')
    if args.channels < 1:
        parser.error(f'--channels must be >= 1, got {args.channels}')
    return args


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    size = (args.size[0], args.size[-1])

    folder = args.images or dataset_image_dir(cfg)
    if not osp.isdir(folder):
        hint = ('--images' if args.images else
                'the config\'s image folder; pass --images DIR, or for the embedded data run '
                'python tools/data/make_synthetic_data.py')
        raise FileNotFoundError(f'no such folder: {folder} ({hint})')
    paths = list_images(folder, args.num_images)
    images = load_config_images(cfg, paths, size)

    torch.manual_seed(args.seed)
    model = init_model(cfg.model.backbone, args.checkpoint, trusted=args.trust_checkpoint)
    layers = args.layers or default_layers(model)
    if not layers:
        raise ValueError('no HiLo layer with both Hi-Fi and Lo-Fi heads in stage index 2 '
                         '(window 1 or alpha 0/1?): pick some with --layers')
    with torch.no_grad(), capture_branches(model, layers) as captured:
        for batch in images.split(4):
            model(batch)
    spectra = mean_spectra(captured)

    weights = (args.checkpoint if args.checkpoint else
               f'random initialisation (seed {args.seed}, no --checkpoint): not a trained model')
    os.makedirs(args.out_dir, exist_ok=True)
    grid_png = osp.join(args.out_dir, 'hilo_spectrum.png')
    radial_png = osp.join(args.out_dir, 'hilo_radial_profile.png')
    title = f'{osp.basename(args.config)}, {"trained" if args.checkpoint else "random"} weights, ' \
            f'{len(paths)} images at {size[0]}x{size[1]}'
    plot_spectrum_grid(spectra, grid_png, args.channels, title=f'log |FFT|: {title}')
    plot_radial_profiles(spectra, radial_png, title=title)

    first = next(iter(spectra.values()))
    print(f'weights: {weights}')
    print(f'images: {len(paths)} from {folder}, resized to {size[0]}x{size[1]}')
    print(f'layers: {" ".join(layers)} (Hi-Fi {first["hifi"].shape[0]} / Lo-Fi '
          f'{first["lofi"].shape[0]} channels on a {first["hifi"].shape[1]}x'
          f'{first["hifi"].shape[2]} map)')
    print(f'spectrum grid: {grid_png}')
    print(f'radial profile: {radial_png}')


if __name__ == '__main__':
    main()
