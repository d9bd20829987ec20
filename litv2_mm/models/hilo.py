"""HiLo attention (Pan et al., NeurIPS 2022): Hi-Fi window attention + Lo-Fi pooled attention.

Tokens (B, H*W, C) on an H x W map -> (B, H*W, C). Parameter names follow the authors'
checkpoints: ``h_qkv``, ``h_proj`` (Hi-Fi) and ``l_q``, ``l_kv``, ``l_proj`` (Lo-Fi).
"""
import math
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cpu_inference import CHUNK_ELEMENTS, cpu_speedups_enabled, images_per_chunk, inference_dtype


def hilo_head_split(num_heads: int, alpha: float, window_size: int) -> tuple[int, int]:
    """Return (hifi_heads, lofi_heads): Lo-Fi takes ``int(num_heads * alpha)`` heads;
    a window of 1 makes the layer plain multi-head attention (all heads Lo-Fi)."""
    if window_size == 1:
        return 0, num_heads
    lofi_heads = int(num_heads * alpha)
    return num_heads - lofi_heads, lofi_heads


def check_hilo_args(dim: int, num_heads: int, window_size: int, alpha: float) -> None:
    """Raise ValueError naming the bad argument."""
    if not isinstance(dim, int) or dim <= 0:
        raise ValueError(f'dim must be a positive int, got {dim!r}')
    if not isinstance(num_heads, int) or num_heads <= 0:
        raise ValueError(f'num_heads must be a positive int, got {num_heads!r}')
    if dim % num_heads != 0:
        raise ValueError(f'num_heads={num_heads} must divide dim={dim}')
    if not isinstance(window_size, int) or window_size < 1:
        raise ValueError(f'window_size must be an int >= 1, got {window_size!r}')
    if not 0.0 <= float(alpha) <= 1.0:
        raise ValueError(f'alpha must lie in [0, 1], got {alpha!r}')


def hilo_flops(dim: int, hifi_dim: int, lofi_dim: int, window_size: int, H: int,
               W: int) -> tuple[int, int]:
    """Multiply-adds of one HiLo layer on an H x W map, counted as the authors do, split as
    (linear projections without bias, the two attention matrix products).

    The map is padded to a multiple of the window s: Np tokens, nW = Np / s^2 windows, and
    as many pooled Lo-Fi keys. A branch without heads (dim 0) costs nothing.
    """
    s = window_size
    Np = s * math.ceil(H / s) * s * math.ceil(W / s)
    nW = Np // (s * s)
    C, hd, ld = dim, hifi_dim, lofi_dim
    projections = Np * C * 3 * hd + Np * hd * hd + Np * C * ld + nW * C * 2 * ld + Np * ld * ld
    products = nW * (s * s) ** 2 * hd * 2 + Np * ld * nW * 2
    return projections, products


class HiLoAttention(nn.Module):
    """HiLo attention. (B, H*W, C) -> (B, H*W, C).

    The map is zero-padded on the right and bottom to a multiple of the window s (the zeros
    take part in the windows and the pooling, as in the authors' code). Hi-Fi heads attend
    inside each s x s window; Lo-Fi heads attend from every position to the s x s average-
    pooled map; the outputs are concatenated, Hi-Fi first, and cropped back to H x W.

    Args:
        dim (int): channels C.
        num_heads (int): attention heads; ``int(num_heads * alpha)`` of them are Lo-Fi.
        qkv_bias (bool): bias in the q/k/v projections.
        qk_scale (float | None): overrides ``head_dim ** -0.5``.
        attn_drop (float): dropout on attention weights.
        proj_drop (float): dropout after the output projections.
        window_size (int): Hi-Fi window and Lo-Fi pooling size s; 1 = plain MSA.
        alpha (float): share of heads given to Lo-Fi, in [0, 1].

    Shapes: ``attn(x, H, W)`` with x of shape (B, N, C), N = H * W tokens of an H x W map
    in row-major order (``feature_map.flatten(2).transpose(1, 2)`` of a (B, C, H, W) map;
    any H, W >= 1: the padding is internal) returns (B, N, C). There is no residual or
    norm inside: a block adds them (``x + attn(norm(x), H, W)``). Plain PyTorch; use it
    on its own as in docs/hilo.md.

    In CPU inference the images go through :meth:`hilo` a few at a time
    (:meth:`hilo_in_image_groups`), where ``cpu_speedups`` (read when the layer is built,
    see :mod:`~litv2_mm.models.cpu_inference`) is on.
    """

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False,
                 qk_scale: Optional[float] = None, attn_drop: float = 0., proj_drop: float = 0.,
                 window_size: int = 2, alpha: float = 0.5) -> None:
        super().__init__()
        check_hilo_args(dim, num_heads, window_size, alpha)
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.window_size = window_size
        self.alpha = alpha
        self.scale = qk_scale or self.head_dim ** -0.5
        self.hifi_heads, self.lofi_heads = hilo_head_split(num_heads, alpha, window_size)
        self.hifi_dim = self.hifi_heads * self.head_dim
        self.lofi_dim = self.lofi_heads * self.head_dim
        self.attn_drop = attn_drop
        # parameter names as in the authors' checkpoints: l_* Lo-Fi, h_* Hi-Fi
        if self.lofi_heads > 0:
            self.l_q = nn.Linear(dim, self.lofi_dim, bias=qkv_bias)
            self.l_kv = nn.Linear(dim, self.lofi_dim * 2, bias=qkv_bias)
            self.l_proj = nn.Linear(self.lofi_dim, self.lofi_dim)
        if self.hifi_heads > 0:
            self.h_qkv = nn.Linear(dim, self.hifi_dim * 3, bias=qkv_bias)
            self.h_proj = nn.Linear(self.hifi_dim, self.hifi_dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.cpu_speedups = cpu_speedups_enabled()

    def extra_repr(self) -> str:
        return (f'dim={self.dim}, hifi_heads={self.hifi_heads}, lofi_heads={self.lofi_heads}, '
                f'window_size={self.window_size}')

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        """x: (B, H*W, C) tokens of an H x W map (row-major) -> (B, H*W, C)."""
        B, N, C = x.shape
        if N != H * W or C != self.dim:
            raise ValueError(f'HiLoAttention expects x of shape (B, H*W={H * W}, C={self.dim}), '
                             f'got {tuple(x.shape)}')
        x = x.view(B, H, W, C)
        s = self.window_size
        pad_b, pad_r = (-H) % s, (-W) % s
        if pad_b or pad_r or torch.jit.is_tracing():  # a traced graph pads for every size
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        if inference_dtype(x, self) is not None:
            out = self.hilo_in_image_groups(x)
        else:
            out = self.hilo(x)
        return self.proj_drop(out[:, :H, :W].reshape(B, N, C))

    def hilo_in_image_groups(self, x: torch.Tensor,
                             chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
        """:meth:`hilo` a group of images at a time (every image attends only to itself),
        each group's widest intermediate (the fused q/k/v GEMM or the Lo-Fi k/v) at most
        ``chunk_elements`` elements; without autograd. (B, Hp, Wp, C) -> (B, Hp, Wp, C)."""
        B, Hp, Wp, C = x.shape
        widest = max(3 * self.hifi_dim + self.lofi_dim, 2 * C)
        group = images_per_chunk(Hp * Wp * widest, chunk_elements)
        if group >= B:
            return self.hilo(x)
        first = self.hilo(x[:group])
        out = first.new_empty(x.shape)
        out[:group] = first
        for b in range(group, B, group):
            out[b:b + group] = self.hilo(x[b:b + group])
        return out

    def hilo(self, x: torch.Tensor) -> torch.Tensor:
        """Both branches on the padded map. (B, Hp, Wp, C) -> (B, Hp, Wp, C), Hi-Fi first."""
        if self.lofi_heads == 0:
            return self.hifi(self.h_qkv(x))
        if self.hifi_heads == 0:
            return self.lofi(x, self.l_q(x))
        # Hi-Fi q, k, v and Lo-Fi q in one GEMM over x
        weight = torch.cat((self.h_qkv.weight, self.l_q.weight))
        bias = None if self.h_qkv.bias is None else torch.cat((self.h_qkv.bias, self.l_q.bias))
        qkv, q = F.linear(x, weight, bias).split((3 * self.hifi_dim, self.lofi_dim), dim=-1)
        return torch.cat((self.hifi(qkv), self.lofi(x, q)), dim=-1)

    def hifi(self, qkv: torch.Tensor) -> torch.Tensor:
        """Attention inside every s x s window.
        qkv: (B, Hp, Wp, 3 * hifi_dim) -> (B, Hp, Wp, hifi_dim)."""
        B, Hp, Wp, _ = qkv.shape
        s, heads, hd = self.window_size, self.hifi_heads, self.head_dim
        qkv = qkv.reshape(B, Hp // s, s, Wp // s, s, 3, heads, hd)
        # -> (3, B * windows, heads, s * s, hd): one copy, the windows become the batch
        qkv = qkv.permute(5, 0, 1, 3, 6, 2, 4, 7).reshape(3, -1, heads, s * s, hd)
        out = self._attend(qkv[0], qkv[1], qkv[2])
        out = out.view(B, Hp // s, Wp // s, heads, s, s, hd).permute(0, 1, 4, 2, 5, 3, 6)
        return self.h_proj(out.reshape(B, Hp, Wp, self.hifi_dim))

    def lofi(self, x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
        """Every position attends to the s x s average-pooled map.
        x: (B, Hp, Wp, C), q = l_q(x): (B, Hp, Wp, lofi_dim) -> (B, Hp, Wp, lofi_dim)."""
        B, Hp, Wp, C = x.shape
        s, heads, hd = self.window_size, self.lofi_heads, self.head_dim
        q = q.reshape(B, Hp * Wp, heads, hd).transpose(1, 2)
        if s > 1:
            pooled = F.avg_pool2d(x.permute(0, 3, 1, 2), s, s)  # (B, C, h, w)
            kv_in = pooled.flatten(2).transpose(1, 2)
        else:
            kv_in = x.reshape(B, Hp * Wp, C)
        kv = self.l_kv(kv_in).view(B, -1, 2, heads, hd).permute(2, 0, 3, 1, 4)
        out = self._attend(q, kv[0], kv[1])  # (B, heads, Hp * Wp, hd)
        return self.l_proj(out.transpose(1, 2).reshape(B, Hp, Wp, self.lofi_dim))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """softmax(q k^T * scale) v, fused. (..., L, hd), (..., S, hd) x 2 -> (..., L, hd)."""
        drop = self.attn_drop if self.training else 0.
        return F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)

    def flops(self, H: int, W: int) -> int:
        """Multiply-adds of this layer on an H x W map, counted as the authors do."""
        return sum(hilo_flops(self.dim, self.hifi_dim, self.lofi_dim, self.window_size, H, W))
