"""Plain reference LITv2 parts, written the obvious way (the authors' formulation).

Used by the tests as ground truth and by the benchmarks as the baseline: separate linear
layers, explicit ``q @ k^T``, softmax and ``@ v`` in the authors' reshape/permute order, and
the DTM deformable conv through ``mmcv.ops.deform_conv2d`` plus its bias. Same parameter
names as the fast modules, so one state dict serves both.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .convffn import ConvFFN
from .dtm import DeformConv2x2, DeformableTokenMerging
from .hilo import HiLoAttention


class ReferenceHiLoAttention(HiLoAttention):
    """HiLo attention with explicit matmul + softmax. (B, H*W, C) -> (B, H*W, C)."""

    def _attend(self, q, k, v):
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = attn.softmax(dim=-1)
        attn = F.dropout(attn, self.attn_drop, self.training)
        return attn @ v

    def _can_chunk(self, x):
        return False  # the plain layer runs the whole batch at once

    def _both_branches(self, x, out=None):
        return torch.cat((self.hifi(x), self.lofi(x)), dim=-1, out=out)

    def hifi(self, x, qkv=None):
        B, H, W, C = x.shape
        h_group, w_group = H // self.ws, W // self.ws
        total_groups = h_group * w_group
        x = x.reshape(B, h_group, self.ws, w_group, self.ws, C).transpose(2, 3)
        qkv = self.h_qkv(x).reshape(B, total_groups, -1, 3, self.h_heads,
                                    self.h_dim // self.h_heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, nW, heads, s*s, hd)
        out = self._attend(q, k, v).transpose(2, 3).reshape(
            B, h_group, w_group, self.ws, self.ws, self.h_dim)
        x = out.transpose(2, 3).reshape(B, h_group * self.ws, w_group * self.ws, self.h_dim)
        return self.h_proj(x)

    def lofi(self, x, q=None):
        B, H, W, C = x.shape
        q = self.l_q(x).reshape(B, H * W, self.l_heads, self.l_dim // self.l_heads).permute(0, 2, 1, 3)
        if self.ws > 1:
            x_ = F.avg_pool2d(x.permute(0, 3, 1, 2), self.ws, self.ws).reshape(B, C, -1).permute(0, 2, 1)
        else:
            x_ = x.reshape(B, -1, C)
        kv = self.l_kv(x_).reshape(B, -1, 2, self.l_heads, self.l_dim // self.l_heads).permute(2, 0, 3, 1, 4)
        out = self._attend(q, kv[0], kv[1]).transpose(1, 2).reshape(B, H, W, self.l_dim)
        return self.l_proj(out)


class ReferenceDeformConv2x2(DeformConv2x2):
    """DTM's deformable conv via ``mmcv.ops.deform_conv2d`` plus the bias."""

    def forward(self, x):
        from mmcv.ops import deform_conv2d
        out = deform_conv2d(x.contiguous(), self.conv_offset(x).contiguous(), self.weight, stride=2)
        return out + self.bias.view(1, -1, 1, 1)


class ReferenceDeformableTokenMerging(DeformableTokenMerging):
    """DTM whose deformable conv is mmcv's."""

    def __init__(self, in_channels, out_channels):
        super().__init__(in_channels, out_channels)
        self.dconv = ReferenceDeformConv2x2(in_channels, out_channels)


class ReferenceConvFFN(ConvFFN):
    """ConvFFN as the authors write it: fc1 (with bias) -> depthwise conv -> GELU -> fc2."""

    def _can_chunk(self, x):
        return False  # the plain layer runs the whole batch at once

    def forward(self, x, H, W):
        x = self.act(self.dwconv(self.fc1(x), H, W))
        return self.drop(self.fc2(self.drop(x)))
