"""Attention layers that HiLo is compared against (the paper's Fig. 6), written plainly.

Every layer maps tokens ``x`` of shape (B, H*W, C) on an H x W map to (B, H*W, C) with
``forward(x, H, W)``, and has ``flops(H, W)``: multiply-adds per image counted like
``HiLoAttention.flops`` (linear / conv projections without bias, plus the two attention
matrix products; softmax, norms and biases not counted).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import HiLoAttention
from ..reference import ReferenceHiLo


class MultiHeadSelfAttention(nn.Module):
    """Global multi-head self-attention (ViT), explicit ``q @ k^T``, softmax, ``@ v``.

    Args:
        dim (int): channels C; num_heads (int): heads (must divide C);
        qkv_bias (bool): bias in the q/k/v projection.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'num_heads={num_heads} must divide dim={dim}')
        self.dim = dim
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """(..., L, d), (..., S, d), (..., S, d) -> (..., L, d)."""
        attn = (q @ k.transpose(-2, -1)) * self.scale
        return attn.softmax(dim=-1) @ v

    def _heads(self, t: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        B, N, _ = t.shape
        return t.view(B, N, self.num_heads, -1).transpose(1, 2)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        q, k, v = self.qkv(x).chunk(3, dim=-1)
        out = self._attend(self._heads(q), self._heads(k), self._heads(v))
        return self.proj(out.transpose(1, 2).reshape(B, N, C))

    def flops(self, H: int, W: int) -> int:
        N, C = H * W, self.dim
        return N * C * 3 * C + N * N * C * 2 + N * C * C


class SDPAMultiHeadSelfAttention(MultiHeadSelfAttention):
    """:class:`MultiHeadSelfAttention` through ``F.scaled_dot_product_attention`` (fused
    kernels where the device has them)."""

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        return F.scaled_dot_product_attention(q, k, v, scale=self.scale)


class SpatialReductionAttention(MultiHeadSelfAttention):
    """PVTv1's spatial-reduction attention: queries at every token, keys and values from the
    map shrunk by an ``sr_ratio`` x ``sr_ratio`` stride-``sr_ratio`` conv and a LayerNorm.

    Args:
        dim, num_heads, qkv_bias: as :class:`MultiHeadSelfAttention`;
        sr_ratio (int): reduction (H and W must be multiples of it).
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True,
                 sr_ratio: int = 2) -> None:
        nn.Module.__init__(self)
        if dim % num_heads:
            raise ValueError(f'num_heads={num_heads} must divide dim={dim}')
        if sr_ratio < 2:
            raise ValueError(f'sr_ratio must be >= 2 (1 is plain attention), got {sr_ratio}')
        self.dim = dim
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.sr_ratio = sr_ratio
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio)
        self.norm = nn.LayerNorm(dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        if H % self.sr_ratio or W % self.sr_ratio:
            raise ValueError(f'SpatialReductionAttention: H={H}, W={W} must be multiples of '
                             f'sr_ratio={self.sr_ratio}')
        q = self._heads(self.q(x))
        reduced = self.sr(x.transpose(1, 2).reshape(B, C, H, W)).flatten(2).transpose(1, 2)
        k, v = self.kv(self.norm(reduced)).chunk(2, dim=-1)
        out = self._attend(q, self._heads(k), self._heads(v))
        return self.proj(out.transpose(1, 2).reshape(B, N, C))

    def flops(self, H: int, W: int) -> int:
        N, C, r = H * W, self.dim, self.sr_ratio
        Nr = (H // r) * (W // r)
        return N * C * C + Nr * C * C * r * r + Nr * C * 2 * C + N * Nr * C * 2 + N * C * C


class WindowAttention(MultiHeadSelfAttention):
    """Swin-style local attention inside non-overlapping ``window_size`` x ``window_size``
    windows (no shift, no relative position bias); the map is zero-padded on the right and
    bottom to a multiple of the window.

    Args:
        dim, num_heads, qkv_bias: as :class:`MultiHeadSelfAttention`;
        window_size (int): window side.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = True,
                 window_size: int = 7) -> None:
        super().__init__(dim, num_heads, qkv_bias)
        self.ws = window_size

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        s = self.ws
        x = x.view(B, H, W, C)
        pad_b, pad_r = (-H) % s, (-W) % s
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        Hp, Wp = H + pad_b, W + pad_r
        # (B, Hp, Wp, C) -> (B * nW, s * s, C)
        windows = x.view(B, Hp // s, s, Wp // s, s, C).transpose(2, 3).reshape(-1, s * s, C)
        out = super().forward(windows, s, s)
        out = out.view(B, Hp // s, Wp // s, s, s, C).transpose(2, 3).reshape(B, Hp, Wp, C)
        return out[:, :H, :W].reshape(B, N, C)

    def flops(self, H: int, W: int) -> int:
        s, C = self.ws, self.dim
        Np = s * math.ceil(H / s) * s * math.ceil(W / s)
        nW = Np // (s * s)
        return Np * C * 3 * C + nW * (s * s) ** 2 * C * 2 + Np * C * C


# The paper's FLOPs at its Fig. 6 setting (14 x 14 tokens, dim 768, 12 heads; HiLo s = 2,
# alpha 0.9; SRA sr_ratio 2; local windows of 7).
PAPER_FIG6_FLOPS = {'MSA': 521e6, 'SRA': 420e6, 'local window': 477e6, 'HiLo': 298e6}


def comparison_layers(dim: int = 768, num_heads: int = 12, window_size: int = 2,
                      alpha: float = 0.9, local_window: int = 7) -> dict[str, nn.Module]:
    """{name: layer} of the Fig. 6 comparison; names starting with a key of
    :data:`PAPER_FIG6_FLOPS` are the layers the paper's figure has.

    ``window_size`` and ``alpha`` are HiLo's (s and the Lo-Fi share of heads; the paper's
    Fig. 6: 2 and 0.9), ``local_window`` the side of the window attention's windows (7)."""
    hilo = dict(dim=dim, num_heads=num_heads, qkv_bias=True, window_size=window_size,
                alpha=alpha)
    return {
        'MSA (matmul)': MultiHeadSelfAttention(dim, num_heads),
        'MSA (SDPA)': SDPAMultiHeadSelfAttention(dim, num_heads),
        'SRA (sr 2)': SpatialReductionAttention(dim, num_heads, sr_ratio=2),
        f'local window ({local_window})': WindowAttention(dim, num_heads,
                                                          window_size=local_window),
        'HiLo (reference)': ReferenceHiLo(**hilo),
        'HiLo (fast)': HiLoAttention(**hilo),
    }
