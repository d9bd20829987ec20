"""The reference LITv2: the authors' formulation, written independently of litv2_mm.models.

The ground truth of the parity tests and the baseline of the benchmarks: separate linear
layers, explicit ``q @ k^T * scale``, softmax and ``@ v`` in the authors' reshape / permute
order, ConvFFN as fc1 -> depthwise conv -> GELU -> fc2, and the deformable conv of token
merging through mmcv's ``deform_conv2d`` plus its bias. Parameter and buffer names are the
authors' (and litv2_mm's), so one state dict loads into both; :func:`reference_litv2` builds
the reference of a :class:`~litv2_mm.models.LITv2` with its weights.

Where the authors' model fails, the reference does what litv2_mm documents: maps smaller
than 2 x 2 are zero-padded before token merging.
"""
from typing import TYPE_CHECKING, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn.bricks import DropPath

from .models.hilo import hilo_flops

if TYPE_CHECKING:
    from .models import LITv2


class ReferenceHiLo(nn.Module):
    """HiLo attention as the authors write it. (B, H*W, C) -> (B, H*W, C)."""

    def __init__(self, dim: int, num_heads: int = 8, qkv_bias: bool = False,
                 qk_scale: Optional[float] = None, attn_drop: float = 0., proj_drop: float = 0.,
                 window_size: int = 2, alpha: float = 0.5) -> None:
        super().__init__()
        head_dim = dim // num_heads
        self.dim = dim
        self.ws = window_size
        self.l_heads = int(num_heads * alpha)
        self.h_heads = num_heads - self.l_heads
        if window_size == 1:  # plain multi-head attention: every head is Lo-Fi
            self.h_heads, self.l_heads = 0, num_heads
        self.l_dim = self.l_heads * head_dim
        self.h_dim = self.h_heads * head_dim
        self.scale = qk_scale or head_dim ** -0.5
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj_drop = nn.Dropout(proj_drop)
        if self.h_heads > 0:  # Hi-Fi: q, k, v of every window, output projection
            self.h_qkv = nn.Linear(self.dim, self.h_dim * 3, bias=qkv_bias)
            self.h_proj = nn.Linear(self.h_dim, self.h_dim)
        if self.l_heads > 0:  # Lo-Fi: queries, pooled keys and values, output projection
            if self.ws != 1:
                self.sr = nn.AvgPool2d(kernel_size=window_size, stride=window_size)
            self.l_q = nn.Linear(self.dim, self.l_dim, bias=qkv_bias)
            self.l_kv = nn.Linear(self.dim, self.l_dim * 2, bias=qkv_bias)
            self.l_proj = nn.Linear(self.l_dim, self.l_dim)

    def hifi(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        h_group, w_group = H // self.ws, W // self.ws
        total_groups = h_group * w_group
        x = x.reshape(B, h_group, self.ws, w_group, self.ws, C).transpose(2, 3)
        qkv = self.h_qkv(x).reshape(B, total_groups, -1, 3, self.h_heads,
                                    self.h_dim // self.h_heads).permute(3, 0, 1, 4, 2, 5)
        q, k, v = qkv[0], qkv[1], qkv[2]  # (B, windows, heads, s * s, head_dim)
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = self.attn_drop(attn.softmax(dim=-1))
        attn = (attn @ v).transpose(2, 3).reshape(B, h_group, w_group, self.ws, self.ws,
                                                  self.h_dim)
        x = attn.transpose(2, 3).reshape(B, h_group * self.ws, w_group * self.ws, self.h_dim)
        return self.h_proj(x)

    def lofi(self, x: torch.Tensor) -> torch.Tensor:
        B, H, W, C = x.shape
        q = self.l_q(x).reshape(B, H * W, self.l_heads, self.l_dim // self.l_heads)
        q = q.permute(0, 2, 1, 3)
        if self.ws > 1:
            x_ = self.sr(x.permute(0, 3, 1, 2)).reshape(B, C, -1).permute(0, 2, 1)
        else:
            x_ = x.reshape(B, -1, C)
        kv = self.l_kv(x_).reshape(B, -1, 2, self.l_heads,
                                   self.l_dim // self.l_heads).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        attn = self.attn_drop(attn.softmax(dim=-1))
        x = (attn @ v).transpose(1, 2).reshape(B, H, W, self.l_dim)
        return self.l_proj(x)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        x = x.reshape(B, H, W, C)
        pad_b, pad_r = (self.ws - H % self.ws) % self.ws, (self.ws - W % self.ws) % self.ws
        x = F.pad(x, (0, 0, 0, pad_r, 0, pad_b))
        if self.h_heads == 0:
            x = self.lofi(x)
        elif self.l_heads == 0:
            x = self.hifi(x)
        else:
            x = torch.cat((self.hifi(x), self.lofi(x)), dim=-1)
        x = x[:, :H, :W, :].reshape(B, N, C)
        return self.proj_drop(x)

    def flops(self, H: int, W: int) -> int:
        return sum(hilo_flops(self.dim, self.h_dim, self.l_dim, self.ws, H, W))


class ReferenceDWConv(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        x = x.transpose(1, 2).view(B, C, H, W)
        return self.dwconv(x).flatten(2).transpose(1, 2)


class ReferenceConvFFN(nn.Module):
    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.) -> None:
        super().__init__()
        self.fc1, self.fc2 = (nn.Linear(in_features, hidden_features),
                              nn.Linear(hidden_features, in_features))
        self.dwconv, self.act = ReferenceDWConv(hidden_features), nn.GELU()
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = self.fc1(x)
        x = self.dwconv(x, H, W)
        x = self.drop(self.act(x))
        return self.drop(self.fc2(x))


class ReferenceDeformConv(nn.Module):
    """2x2 stride-2 deformable conv with bias: mmcv's ``deform_conv2d`` plus the bias."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(out_channels, in_channels, 2, 2))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.conv_offset = nn.Conv2d(in_channels, 8, 2, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from mmcv.ops import deform_conv2d
        offset = self.conv_offset(x)
        out = deform_conv2d(x.contiguous(), offset.contiguous(), self.weight, stride=2)
        return out + self.bias.view(1, -1, 1, 1)


class ReferenceTokenMerging(nn.Module):
    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.dconv = ReferenceDeformConv(in_channels, out_channels)
        self.norm_layer, self.act_layer = nn.BatchNorm2d(out_channels), nn.GELU()

    def forward(self, x: torch.Tensor, H: int, W: int) -> tuple[torch.Tensor, int, int]:
        B, N, C = x.shape
        x = F.pad(x.transpose(1, 2).reshape(B, C, H, W), (0, max(2 - W, 0), 0, max(2 - H, 0)))
        x = self.act_layer(self.norm_layer(self.dconv(x)))
        Ho, Wo = x.shape[-2:]
        return x.flatten(2).transpose(1, 2), Ho, Wo


class ReferenceBlock(nn.Module):
    def __init__(self, dim: int, num_heads: int, window_size: int, alpha: float,
                 mlp_ratio: float, qkv_bias: bool, qk_scale: Optional[float], drop: float,
                 attn_drop: float, drop_path: float) -> None:
        super().__init__()
        if window_size > 0:
            self.norm1 = nn.LayerNorm(dim)
            self.attn = ReferenceHiLo(dim, num_heads, qkv_bias, qk_scale, attn_drop, drop,
                                      window_size, alpha)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = ReferenceConvFFN(dim, int(dim * mlp_ratio), drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0. else nn.Identity()

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        if hasattr(self, 'attn'):
            x = x + self.drop_path(self.attn(self.norm1(x), H, W))
        return x + self.drop_path(self.mlp(self.norm2(x), H, W))


class ReferenceStage(nn.Module):
    def __init__(self, blocks: Sequence[ReferenceBlock],
                 downsample: Optional[ReferenceTokenMerging]) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        self.downsample = downsample


class ReferencePatchEmbed(nn.Module):
    """Zero-pad to a multiple of 4, 4x4 stride-4 conv, LayerNorm."""

    def __init__(self, in_channels: int, embed_dims: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(in_channels, embed_dims, 4, stride=4)
        self.norm = nn.LayerNorm(embed_dims)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, int, int]:
        H, W = x.shape[-2:]
        x = self.proj(F.pad(x, (0, (4 - W % 4) % 4, 0, (4 - H % 4) % 4)))
        Hs, Ws = x.shape[-2:]
        return self.norm(x.flatten(2).transpose(1, 2)), Hs, Ws


class ReferenceLITv2(nn.Module):
    """The authors' dense-prediction LITv2 backbone: (B, 3, H, W) -> NCHW maps of the stages
    in ``out_indices``; stages 2-4 through LayerNorms ``norm1..norm3`` if ``out_norms``."""

    def __init__(self, in_channels: int, embed_dims: int, depths: Sequence[int],
                 num_heads: Sequence[int], alpha: float, local_ws: Sequence[int],
                 mlp_ratio: float, qkv_bias: bool, qk_scale: Optional[float], drop_rate: float,
                 attn_drop_rate: float, drop_path_rate: float, out_indices: Sequence[int],
                 out_norms: bool) -> None:
        super().__init__()
        self.out_indices = out_indices
        self.patch_embed = ReferencePatchEmbed(in_channels, embed_dims)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = [x.item() for x in torch.linspace(0, drop_path_rate, sum(depths))]
        self.layers = nn.ModuleList()
        for i, depth in enumerate(depths):
            dim = embed_dims * 2 ** i
            blocks = [ReferenceBlock(dim, num_heads[i], local_ws[i], alpha, mlp_ratio, qkv_bias,
                                     qk_scale, drop_rate, attn_drop_rate,
                                     dpr[sum(depths[:i]) + j]) for j in range(depth)]
            down = ReferenceTokenMerging(dim, dim * 2) if i < len(depths) - 1 else None
            self.layers.append(ReferenceStage(blocks, down))
        for i in out_indices:
            if i > 0 and out_norms:
                self.add_module(f'norm{i}', nn.LayerNorm(embed_dims * 2 ** i))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x, H, W = self.patch_embed(x)
        x = self.pos_drop(x)
        outs = []
        for i, layer in enumerate(self.layers):
            for blk in layer.blocks:
                x = blk(x, H, W)
            if i in self.out_indices:
                out = getattr(self, f'norm{i}')(x) if hasattr(self, f'norm{i}') else x
                B, _, C = out.shape
                outs.append(out.reshape(B, H, W, C).permute(0, 3, 1, 2).contiguous())
            if i == max(self.out_indices):
                break
            x, H, W = layer.downsample(x, H, W)
        return tuple(outs)


def reference_litv2(model: 'LITv2') -> ReferenceLITv2:
    """The reference (authors' formulation) of the LITv2 backbone ``model``, with its
    weights, which of them require grad, its train / eval mode and its device."""
    reference = ReferenceLITv2(
        model.in_channels, model.embed_dims, model.depths, model.num_heads, model.alpha,
        model.window_size, model.mlp_ratio, model.qkv_bias, model.qk_scale, model.drop_rate,
        model.attn_drop_rate, model.drop_path_rate, model.out_indices, model.out_norms)
    reference.load_state_dict(model.state_dict())
    params = dict(model.named_parameters())
    for name, p in reference.named_parameters():
        p.requires_grad_(params[name].requires_grad)
    reference.train(model.training)
    return reference.to(next(model.parameters()).device)
