"""Frequency spectra of HiLo's Hi-Fi and Lo-Fi branch outputs (the paper's Figure 5).

Writes OUT_DIR/hilo_spectrum.png (log |FFT| of 8 channels per branch, two rows per layer,
averaged over the images) and OUT_DIR/hilo_radial_profile.png (mean |FFT| vs. radial
frequency, both branches of every layer on one plot).

    python tools/analysis/spectrum.py configs/sem_fpn/litv2_s_synthetic.py \\
        --num-images 8 --size 128 --out-dir outputs/spectrum
"""
import argparse
import os
import os.path as osp

import torch
from mmengine.config import Config, DictAction

from litv2_mm.analysis.spectrum import (capture_branches, dataset_image_dir, default_layers,
                                        list_images, load_images, mean_spectra, normalisation,
                                        plot_radial_profiles, plot_spectrum_grid)
from litv2_mm.deployment import build_backbone


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
    mean, std, rgb = normalisation(cfg)
    images = load_images(paths, size, mean, std, rgb)

    torch.manual_seed(args.seed)
    model = build_backbone(cfg.model.backbone, args.checkpoint, args.trust_checkpoint)
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
