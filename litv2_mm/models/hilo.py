"""HiLo attention (Pan et al., NeurIPS 2022): Hi-Fi window attention + Lo-Fi pooled attention.

Input ``x`` of shape (B, H*W, C); output of the same shape. Parameter names follow the
authors' checkpoints: ``h_qkv``, ``h_proj`` (Hi-Fi) and ``l_q``, ``l_kv``, ``l_proj`` (Lo-Fi).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cpu_chunks import images_per_chunk, on_cpu_without_autocast


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


class HiLoAttention(nn.Module):
    """HiLo attention, fast implementation (fused SDPA kernels, few copies).

    Args:
        dim (int): channels C.
        num_heads (int): attention heads; ``int(num_heads * alpha)`` of them are Lo-Fi.
        qkv_bias (bool): bias in the q/k/v projections.
        qk_scale (float | None): overrides ``head_dim ** -0.5``.
        attn_drop (float): dropout on attention weights.
        proj_drop (float): dropout after the output projections.
        window_size (int): Hi-Fi window and Lo-Fi pooling size s; 1 = plain MSA.
        alpha (float): share of heads given to Lo-Fi, in [0, 1].
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

    def _attend(self, q, k, v):
        drop = self.attn_drop if self.training else 0.
        return F.scaled_dot_product_attention(q, k, v, dropout_p=drop, scale=self.scale)

    def hifi(self, x, qkv=None):
        """Window attention. x: (B, Hp, Wp, C) with Hp, Wp multiples of s -> (B, Hp, Wp, h_dim).

        ``qkv`` (B, Hp, Wp, 3 * h_dim): ``h_qkv(x)`` when the caller has it already.
        """
        B, Hp, Wp, _ = x.shape
        s, hh, hd = self.ws, self.h_heads, self.head_dim
        qkv = (self.h_qkv(x) if qkv is None else qkv).reshape(B, Hp // s, s, Wp // s, s, 3, hh, hd)
        # -> (3, B, nh, nw, heads, s, s, hd): one copy, windows become the batch.
        qkv = qkv.permute(5, 0, 1, 3, 6, 2, 4, 7).reshape(3, -1, hh, s * s, hd)
        out = self._attend(qkv[0], qkv[1], qkv[2])  # (B*nW, heads, s*s, hd)
        out = out.view(B, Hp // s, Wp // s, hh, s, s, hd).permute(0, 1, 4, 2, 5, 3, 6)
        return self.h_proj(out.reshape(B, Hp, Wp, self.h_dim))

    def lofi(self, x, q=None):
        """Queries everywhere, keys/values from s x s average pooling.
        (B, Hp, Wp, C) -> (B, Hp, Wp, l_dim); ``q`` (B, Hp, Wp, l_dim): ``l_q(x)`` if known."""
        B, Hp, Wp, C = x.shape
        lh, hd = self.l_heads, self.head_dim
        q = (self.l_q(x) if q is None else q).reshape(B, Hp * Wp, lh, hd).transpose(1, 2)
        if self.ws > 1:
            pooled = F.avg_pool2d(x.permute(0, 3, 1, 2), self.ws, self.ws)  # (B, C, h, w)
            kv_in = pooled.flatten(2).transpose(1, 2)
        else:
            kv_in = x.reshape(B, Hp * Wp, C)
        kv = self.l_kv(kv_in).view(B, -1, 2, lh, hd).permute(2, 0, 3, 1, 4)
        out = self._attend(q, kv[0], kv[1])  # (B, heads, Hp*Wp, hd)
        return self.l_proj(out.transpose(1, 2).reshape(B, Hp, Wp, self.l_dim))

    def _both_branches(self, x, out=None):
        """Hi-Fi q/k/v and Lo-Fi q from one GEMM over x, then both branches, Hi-Fi first."""
        weight = torch.cat((self.h_qkv.weight, self.l_q.weight))
        bias = None if self.h_qkv.bias is None else torch.cat((self.h_qkv.bias, self.l_q.bias))
        qkv, q = F.linear(x, weight, bias).split((3 * self.h_dim, self.l_dim), dim=-1)
        return torch.cat((self.hifi(x, qkv=qkv), self.lofi(x, q=q)), dim=-1, out=out)

    def _attention(self, x, out=None):
        """(B, Hp, Wp, C) padded map -> (B, Hp, Wp, C), written into ``out`` if given."""
        if self.h_heads == 0:
            result = self.lofi(x)
        elif self.l_heads == 0:
            result = self.hifi(x)
        else:
            return self._both_branches(x, out=out)
        return result if out is None else out.copy_(result)

    def _can_chunk(self, x):
        """CPU inference without autograd or autocast: images can go through in groups."""
        return (not torch.is_grad_enabled() and on_cpu_without_autocast(x)
                and (self.attn_drop == 0 or not self.training))

    def forward(self, x, H, W):
        """x: (B, H*W, C) -> (B, H*W, C).

        On a CPU without autograd, a large batch goes through a few images at a time, so the
        q/k/v and attention buffers stay cache-sized (every image attends only to itself).
        """
        B, N, C = x.shape
        if N != H * W or C != self.dim:
            raise ValueError(f'HiLoAttention expects x of shape (B, H*W={H * W}, C={self.dim}), '
                             f'got {tuple(x.shape)}')
        x = x.view(B, H, W, C)
        pad_b, pad_r = (-H) % self.ws, (-W) % self.ws
        if pad_b or pad_r:  # zeros join the windows and the pooling, as the authors do
            x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        group = B
        if self._can_chunk(x):
            widest = max(3 * self.h_dim + self.l_dim, 2 * C)
            group = images_per_chunk(x.shape[1] * x.shape[2] * widest)
        if group >= B:
            out = self._attention(x)
        else:
            out = x.new_empty(x.shape)
            for b in range(0, B, group):
                self._attention(x[b:b + group], out=out[b:b + group])
        if pad_b or pad_r:
            out = out[:, :H, :W]
        return self.proj_drop(out.reshape(B, N, C))

    def flops(self, H, W):
        """Multiply-adds of one layer on an H x W map, counted as the authors do."""
        Hp, Wp = self.ws * math.ceil(H / self.ws), self.ws * math.ceil(W / self.ws)
        Np = Hp * Wp
        nW = Np // (self.ws * self.ws)
        C, hd, ld = self.dim, self.h_dim, self.l_dim
        hifi = Np * C * 3 * hd + nW * (self.ws ** 2) ** 2 * hd * 2 + Np * hd * hd
        lofi = Np * C * ld + nW * C * 2 * ld + Np * ld * nW * 2 + Np * ld * ld
        return (hifi if self.h_heads else 0) + (lofi if self.l_heads else 0)
