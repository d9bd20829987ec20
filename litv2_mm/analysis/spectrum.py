"""Frequency analysis of HiLo's two branches (the paper's Figure 5).

Capture the Hi-Fi and Lo-Fi outputs of chosen HiLo layers, take the 2-D FFT magnitude of
every channel (low frequencies in the centre), average it over images and reduce it to a
radial profile. (Images as a config reads them: :mod:`litv2_mm.config.images`; the plots:
``tools/analysis/spectrum.py``.)
"""
import contextlib
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

import torch

if TYPE_CHECKING:
    from ..models import HiLoAttention, LITv2

BRANCHES = ('hifi', 'lofi')


def parse_layer(spec: str) -> tuple[int, int]:
    """'2.3' -> (2, 3): stage index and block index, both 0-based."""
    match = re.fullmatch(r'(\d+)\.(\d+)', str(spec).strip())
    if match is None:
        raise ValueError(f"layer {spec!r}: expected 'STAGE.BLOCK', e.g. '2.0' (0-based)")
    return int(match.group(1)), int(match.group(2))


def hilo_layer(model: 'LITv2', spec: str) -> 'HiLoAttention':
    """The HiLo module of block ``spec`` ('stage.block') of a LITv2 backbone; it must have
    both branches."""
    stage, block = parse_layer(spec)
    if stage >= len(model.layers) or block >= len(model.layers[stage].blocks):
        depths = [len(layer.blocks) for layer in model.layers]
        raise ValueError(f'layer {spec}: no such block (stage depths {depths}, 0-based)')
    blk = model.layers[stage].blocks[block]
    if not getattr(blk, 'has_attn', False):
        raise ValueError(f'layer {spec}: stage {stage} has no attention (window_size 0)')
    attn = blk.attn
    if attn.hifi_heads == 0 or attn.lofi_heads == 0:
        raise ValueError(f'layer {spec}: needs both branches, has {attn.hifi_heads} Hi-Fi and '
                         f'{attn.lofi_heads} Lo-Fi heads (window {attn.window_size}, '
                         f'alpha {attn.alpha})')
    return attn


def default_layers(model: 'LITv2', stage: int = 2) -> list[str]:
    """Names ('stage.block') of the blocks of ``stage`` (0-based; 2 = the paper's stage 3)
    whose HiLo layer has both branches."""
    blocks = model.layers[stage].blocks if stage < len(model.layers) else []
    return [f'{stage}.{j}' for j, blk in enumerate(blocks)
            if getattr(blk, 'has_attn', False) and blk.attn.hifi_heads and blk.attn.lofi_heads]


@contextlib.contextmanager
def capture_branches(model: 'LITv2',
                     layers: Iterable[str]) -> Iterator[dict[str, dict[str, list[torch.Tensor]]]]:
    """Record the branch outputs of the HiLo layers ``layers`` ('stage.block' names) while
    the context is open.

    Yields ``{name: {'hifi': [...], 'lofi': [...]}}``; every forward pass appends one
    detached CPU tensor per branch: Hi-Fi (B, Hp, Wp, h_dim), Lo-Fi (B, Hp, Wp, l_dim), on
    the map padded to a multiple of the window. The modules are restored on exit.
    """
    captured = {}
    wrapped = []

    def recorder(method: Callable[..., torch.Tensor],
                 store: list[torch.Tensor]) -> Callable[..., torch.Tensor]:
        def run(*args: Any) -> torch.Tensor:
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


def fft_magnitude(maps: torch.Tensor) -> torch.Tensor:
    """Centred 2-D FFT magnitude per channel. (B, H, W, C) -> (B, C, H, W).

    ``norm='ortho'`` keeps magnitudes comparable across map sizes; after ``fftshift`` the
    zero frequency sits at (H // 2, W // 2).
    """
    spec = torch.fft.fft2(maps.permute(0, 3, 1, 2).float(), norm='ortho')
    return torch.fft.fftshift(spec, dim=(-2, -1)).abs()


def mean_spectra(captured: dict[str, dict[str, list[torch.Tensor]]]
                 ) -> dict[str, dict[str, torch.Tensor]]:
    """Average FFT magnitudes over all captured images.

    ``{name: {branch: [(B, H, W, C), ...]}}`` -> ``{name: {branch: (C, H, W)}}``.
    """
    return {name: {branch: fft_magnitude(torch.cat(maps)).mean(0)
                   for branch, maps in branches.items()}
            for name, branches in captured.items()}


def radial_profile(magnitude: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
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
