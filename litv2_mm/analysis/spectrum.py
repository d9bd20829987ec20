"""Frequency analysis of HiLo's two branches (the paper's Figure 5).

Capture the Hi-Fi and Lo-Fi outputs of chosen HiLo layers, take the 2-D FFT magnitude of
every channel (low frequencies in the centre), average it over images, reduce it to a
radial profile, and draw both.
"""
import contextlib
import math
import os.path as osp
import re
from pathlib import Path

import numpy as np
import torch

BRANCHES = ('hifi', 'lofi')
BRANCH_LABELS = {'hifi': 'Hi-Fi', 'lofi': 'Lo-Fi'}
IMAGE_SUFFIXES = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


def list_images(folder, limit=None):
    """Sorted image files under ``folder`` (recursively), at most ``limit`` of them."""
    files = sorted(p for p in Path(folder).rglob('*') if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise FileNotFoundError(f'no images ({", ".join(IMAGE_SUFFIXES)}) under {folder}')
    return files[:limit]


def dataset_image_dir(cfg):
    """Image folder of the config's test (else val) dataset: ``data_root`` joined with the
    image prefix (mmdet ``data_prefix.img``, mmseg ``data_prefix.img_path``, mmpretrain a
    ``data_prefix`` string or the ``split`` name)."""
    for key in ('test_dataloader', 'val_dataloader'):
        dataset = (cfg.get(key) or {}).get('dataset')
        while dataset is not None and 'dataset' in dataset:  # RepeatDataset & co.
            dataset = dataset['dataset']
        if not dataset:
            continue
        prefix = dataset.get('data_prefix') or dataset.get('split') or ''
        if isinstance(prefix, dict):
            prefix = prefix.get('img', prefix.get('img_path', ''))
        return osp.join(dataset.get('data_root') or '', prefix or '')
    raise ValueError('the config has no test_dataloader or val_dataloader dataset')


def normalisation(cfg):
    """(mean, std, rgb) of the config's data preprocessor (``model.data_preprocessor``, or
    mmpretrain's top-level ``data_preprocessor``): per-channel lists and whether the model
    expects RGB (True) or BGR input; (0, 1, True) when the config does not say."""
    pre = cfg.get('model', {}).get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    rgb = pre.get('bgr_to_rgb', pre.get('to_rgb', True))
    return list(pre.get('mean') or [0.] * 3), list(pre.get('std') or [1.] * 3), bool(rgb)


def load_images(paths, size, mean, std, rgb=True):
    """Read, resize and normalise images. ``size`` (H, W) -> (N, 3, H, W) float32."""
    from PIL import Image
    batch = []
    for path in paths:
        with Image.open(path) as img:
            array = np.asarray(img.convert('RGB').resize((size[1], size[0]), Image.BILINEAR),
                               dtype=np.float32)
        batch.append(array if rgb else array[..., ::-1])
    images = torch.from_numpy(np.stack(batch)).permute(0, 3, 1, 2)
    return (images - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)


def parse_layer(spec):
    """'2.3' -> (2, 3): stage index and block index, both 0-based."""
    match = re.fullmatch(r'(\d+)\.(\d+)', str(spec).strip())
    if match is None:
        raise ValueError(f"layer {spec!r}: expected 'STAGE.BLOCK', e.g. '2.0' (0-based)")
    return int(match.group(1)), int(match.group(2))


def hilo_layer(model, spec):
    """The HiLo module of block ``spec`` ('stage.block') of a LITv2 backbone; it must have
    both branches."""
    stage, block = parse_layer(spec)
    if stage >= len(model.layers) or block >= len(model.layers[stage].blocks):
        depths = [len(layer.blocks) for layer in model.layers]
        raise ValueError(f'layer {spec}: no such block (stage depths {depths}, 0-based)')
    blk = model.layers[stage].blocks[block]
    if not getattr(blk, 'has_attn', False):
        raise ValueError(f'layer {spec}: stage {stage} has no attention (local_ws 0)')
    attn = blk.attn
    if attn.h_heads == 0 or attn.l_heads == 0:
        raise ValueError(f'layer {spec}: needs both branches, has {attn.h_heads} Hi-Fi and '
                         f'{attn.l_heads} Lo-Fi heads (window {attn.ws}, alpha {attn.alpha})')
    return attn


def default_layers(model, stage=2):
    """Names ('stage.block') of the blocks of ``stage`` (0-based; 2 = the paper's stage 3)
    whose HiLo layer has both branches."""
    blocks = model.layers[stage].blocks if stage < len(model.layers) else []
    return [f'{stage}.{j}' for j, blk in enumerate(blocks)
            if getattr(blk, 'has_attn', False) and blk.attn.h_heads and blk.attn.l_heads]


@contextlib.contextmanager
def capture_branches(model, layers):
    """Record the branch outputs of the HiLo layers ``layers`` ('stage.block' names) while
    the context is open.

    Yields ``{name: {'hifi': [...], 'lofi': [...]}}``; every forward pass appends one
    detached CPU tensor per branch: Hi-Fi (B, Hp, Wp, h_dim), Lo-Fi (B, Hp, Wp, l_dim), on
    the map padded to a multiple of the window. The modules are restored on exit.
    """
    captured = {}
    wrapped = []

    def recorder(method, store):
        def run(*args):
            out = method(*args)
            store.append(out.detach().cpu())
            return out
        return run

    try:
        for name in dict.fromkeys(layers):
            attn = hilo_layer(model, name)
            captured[name] = {branch: [] for branch in BRANCHES}
            for branch in BRANCHES:
                # An instance attribute shadows the class method for this module only.
                setattr(attn, branch, recorder(getattr(attn, branch), captured[name][branch]))
                wrapped.append((attn, branch))
        yield captured
    finally:
        for attn, branch in wrapped:
            delattr(attn, branch)


def fft_magnitude(maps):
    """Centred 2-D FFT magnitude per channel. (B, H, W, C) -> (B, C, H, W).

    ``norm='ortho'`` keeps magnitudes comparable across map sizes; after ``fftshift`` the
    zero frequency sits at (H // 2, W // 2).
    """
    spec = torch.fft.fft2(maps.permute(0, 3, 1, 2).float(), norm='ortho')
    return torch.fft.fftshift(spec, dim=(-2, -1)).abs()


def mean_spectra(captured):
    """Average FFT magnitudes over all captured images.

    ``{name: {branch: [(B, H, W, C), ...]}}`` -> ``{name: {branch: (C, H, W)}}``.
    """
    return {name: {branch: fft_magnitude(torch.cat(maps)).mean(0)
                   for branch, maps in branches.items()}
            for name, branches in captured.items()}


def radial_profile(magnitude):
    """Mean magnitude per radial frequency of a centred spectrum.

    Args:
        magnitude: (..., H, W), zero frequency at (H // 2, W // 2) (``fft_magnitude``);
            leading dimensions (channels) are averaged.

    Returns:
        (freqs, profile): both (R + 1,), R = min(H, W) // 2. ``freqs`` runs from 0 to 1
        (1 = Nyquist along an axis); bin k holds frequencies whose normalised radius rounds
        to k / R. Corner frequencies beyond the Nyquist circle are left out.
    """
    H, W = magnitude.shape[-2:]
    R = min(H, W) // 2
    fy = torch.fft.fftshift(torch.fft.fftfreq(H)) / 0.5
    fx = torch.fft.fftshift(torch.fft.fftfreq(W)) / 0.5
    radius = torch.sqrt(fy[:, None] ** 2 + fx[None, :] ** 2)
    bins = torch.round(radius * R).long().flatten()
    keep = bins <= R
    values = magnitude.reshape(-1, H * W).mean(0)[keep]
    bins = bins[keep]
    total = torch.zeros(R + 1, dtype=values.dtype).index_add_(0, bins, values)
    count = torch.zeros(R + 1, dtype=values.dtype).index_add_(0, bins, torch.ones_like(values))
    return torch.arange(R + 1, dtype=values.dtype) / max(R, 1), total / count.clamp(min=1)


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
