"""HiLo attention (Pan et al., NeurIPS 2022): Hi-Fi window attention + Lo-Fi pooled attention.

Tokens (B, H*W, C) on an H x W map -> (B, H*W, C). Parameter names follow the authors'
checkpoints: ``h_qkv``, ``h_proj`` (Hi-Fi) and ``l_q``, ``l_kv``, ``l_proj`` (Lo-Fi).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import cpu_inference


def hilo_head_split(num_heads, alpha, window_size):
    """Return (hifi_heads, lofi_heads): Lo-Fi takes ``int(num_heads * alpha)`` heads;
    a window of 1 makes the layer plain multi-head attention (all heads Lo-Fi)."""
    if window_size == 1:
        return 0, num_heads
    lofi_heads = int(num_heads * alpha)
    return num_heads - lofi_heads, lofi_heads


def check_hilo_args(dim, num_heads, window_size, alpha):
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


def hilo_flops(dim, hifi_dim, lofi_dim, window_size, H, W):
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
    """

    def __init__(self, dim, num_heads=8, qkv_bias=False, qk_scale=None, attn_drop=0.,
                 proj_drop=0., window_size=2, alpha=0.5):
        super().__init__()
        check_hilo_args(dim, num_heads, window_size, alpha)
        self.dim = dim
        self.num_heads = num_heads
        self.head_dim = dim // num_heads
        self.ws = window_size
        self.alpha = alpha
        self.scale = qk_scale or self.head_dim ** -0.5
        self.h_heads, self.l_heads = hilo_head_split(num_heads, alpha, window_size)
        self.h_dim = self.h_heads * self.head_dim
        self.l_dim = self.l_heads * self.head_dim
        self.attn_drop = attn_drop
        if self.l_heads > 0:
            self.l_q = nn.Linear(dim, self.l_dim, bias=qkv_bias)
            self.l_kv = nn.Linear(dim, self.l_dim * 2, bias=qkv_bias)
            self.l_proj = nn.Linear(self.l_dim, self.l_dim)
        if self.h_heads > 0:
            self.h_qkv = nn.Linear(dim, self.h_dim * 3, bias=qkv_bias)
            self.h_proj = nn.Linear(self.h_dim, self.h_dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def extra_repr(self):
        return (f'dim={self.dim}, hifi_heads={self.h_heads}, lofi_heads={self.l_heads}, '
                f'window_size={self.ws}')

    def forward(self, x, H, W):
        """x: (B, H*W, C) tokens of an H x W map (row-major) -> (B, H*W, C)."""
        B, N, C = x.shape
        if N != H * W or C != self.dim:
            raise ValueError(f'HiLoAttention expects x of shape (B, H*W={H * W}, C={self.dim}), '
                             f'got {tuple(x.shape)}')
        x = x.view(B, H, W, C)
        pad_b, pad_r = (-H) % self.ws, (-W) % self.ws
        if pad_b or pad_r or torch.jit.is_tracing():  # a traced graph pads for every size
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        if cpu_inference.compute_dtype(x, self) is not None:
            out = cpu_inference.hilo_by_image_groups(self, x)
        else:
            out = self.hilo(x)
        return self.proj_drop(out[:, :H, :W].reshape(B, N, C))

    def hilo(self, x):
        """Both branches on the padded map. (B, Hp, Wp, C) -> (B, Hp, Wp, C), Hi-Fi first."""
        if self.l_heads == 0:
            return self.hifi(self.h_qkv(x))
        if self.h_heads == 0:
            return self.lofi(x, self.l_q(x))
        # Hi-Fi q, k, v and Lo-Fi q in one GEMM over x
        weight = torch.cat((self.h_qkv.weight, self.l_q.weight))
        bias = None if self.h_qkv.bias is None else torch.cat((self.h_qkv.bias, self.l_q.bias))
        qkv, q = F.linear(x, weight, bias).split((3 * self.h_dim, self.l_dim), dim=-1)
        return torch.cat((self.hifi(qkv), self.lofi(x, q)), dim=-1)

    def hifi(self, qkv):
        """Attention inside every s x s window.
        qkv: (B, Hp, Wp, 3 * h_dim) -> (B, Hp, Wp, h_dim)."""
        B, Hp, Wp, _ = qkv.shape
        s, heads, hd = self.ws, self.h_heads, self.head_dim
        qkv = qkv.reshape(B, Hp // s, s, Wp // s, s, 3, heads, hd)
        # -> (3, B * windows, heads, s * s, hd): one copy, the windows become the batch
        qkv = qkv.permute(5, 0, 1, 3, 6, 2, 4, 7).reshape(3, -1, heads, s * s, hd)
        out = self._attend(qkv[0], qkv[1], qkv[2])
        out = out.view(B, Hp // s, Wp // s, heads, s, s, hd).permute(0, 1, 4, 2, 5, 3, 6)
        return self.h_proj(out.reshape(B, Hp, Wp, self.h_dim))

    def lofi(self, x, q):
        """Every position attends to the s x s average-pooled map.
        x: (B, Hp, Wp, C), q = l_q(x): (B, Hp, Wp, l_dim) -> (B, Hp, Wp, l_dim)."""
        B, Hp, Wp, C = x.shape
        heads, hd = self.l_heads, self.head_dim
        q = q.reshape(B, Hp * Wp, heads, hd).transpose(1, 2)
        if self.ws > 1:
            pooled = F.avg_pool2d(x.permute(0, 3, 1, 2), self.ws, self.ws)  # (B, C, h, w)
            kv_in = pooled.flatten(2).transpose(1, 2)
        else:
            kv_in = x.reshape(B, Hp * Wp, C)
        kv = self.l_kv(kv_in).view(B, -1, 2, heads, hd).permute(2, 0, 3, 1, 4)
        out = self._attend(q, kv[0], kv[1])  # (B, heads, Hp * Wp, hd)
        return self.l_proj(out.transpose(1, 2).reshape(B, Hp, Wp, self.l_dim))

    def _attend(self, q, k, v):
        """softmax(q k^T * scale) v, fused. (..., L, hd), (..., S, hd) x 2 -> (..., L, hd)."""
        drop = self.attn_drop if self.training else 0.
        return F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)

    def flops(self, H, W):
        """Multiply-adds of this layer on an H x W map, counted as the authors do."""
        return sum(hilo_flops(self.dim, self.h_dim, self.l_dim, self.ws, H, W))
