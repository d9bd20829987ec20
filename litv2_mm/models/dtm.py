"""Deformable Token Merging (DTM, from LITv1): 2x2 stride-2 deformable conv with bias,
offsets from a zero-initialised 2x2 stride-2 conv, then BatchNorm and GELU.

Pure PyTorch, CPU and CUDA, forward and backward: the deformed sampling points are drawn
with one ``grid_sample`` call (bilinear, zeros outside the map, as every DCN does), laid out
so that the deformable conv becomes one GEMM whose output is already in token layout.
grid_sample's CUDA backward has no deterministic form (under
``torch.use_deterministic_algorithms(True)``, mmengine's ``--deterministic``, it raises), so
there CUDA tensors are sampled in an index form instead: the 4 pixels around each point
picked by index and weighted, the same bilinear sampling with a deterministic backward.

Mixed precision: the offsets, the tap positions, the grid and the bilinear sampling are
computed in fp32 whatever the input's dtype and any autocast (in bf16 a column position
between 256 and 512 is held to steps of 2 pixels, in fp16 of 0.25), and so are the
BatchNorm and GELU after the deformable conv, whose output starts the next stage's residual
stream; only the GEMM after the sampling runs in autocast's low precision.
"""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F


def deform_conv2x2_s2(x: torch.Tensor, offset: torch.Tensor, weight: torch.Tensor,
                      bias: Optional[torch.Tensor] = None) -> torch.Tensor:
    """2x2, stride 2, no padding deformable conv (DCN v1, one offset group).

    Args:
        x: (B, C, H, W) input, H and W >= 2.
        offset: (B, 8, H // 2, W // 2), per tap t = 2 * ki + kj (row-major over the 2x2
            kernel) (dy, dx), the layout of ``mmcv.ops.deform_conv2d``.
        weight: (C_out, C, 2, 2); bias: (C_out,) or None.

    Returns:
        (B, C_out, H // 2, W // 2), with channels-last strides (a view of (B, P, C_out)
        tokens, P = H // 2 * W // 2).
    """
    B, C, H, W = x.shape
    Ho, Wo = H // 2, W // 2
    P = Ho * Wo
    with torch.autocast(x.device.type, enabled=False):
        sampled = _sample_taps(x.float(), offset.float())  # (B, C, 4, P), fp32
    # one (B * P, C * 4) x (C * 4, C_out) GEMM: a batched matmul of the transposed samples
    # would copy the weight B times (the reshapes copy the samples once, for B > 1)
    cols = sampled.reshape(B, C * 4, P).transpose(1, 2).reshape(B * P, C * 4)
    out = torch.mm(cols.to(weight.dtype), weight.reshape(weight.shape[0], C * 4).t())
    if bias is not None:
        out.add_(bias)  # mm's backward needs its inputs only
    return out.view(B, Ho, Wo, -1).permute(0, 3, 1, 2)


def _sample_taps(x: torch.Tensor, offset: torch.Tensor) -> torch.Tensor:
    """x: (B, C, H, W), offset: (B, 8, H // 2, W // 2) -> bilinear samples (B, C, 4, P) at
    the deformed positions of the 4 taps of every output position, in x's dtype."""
    B, C, H, W = x.shape
    Ho, Wo = H // 2, W // 2
    P = Ho * Wo
    # Tap t = (ki, kj) of output p = (i, j) samples (2i + ki + dy, 2j + kj + dx). The taps are
    # laid out as a (4, P) grid, so the samples come out as (B, C, 4, P): for every output
    # position a column of C * 4 values in the order of weight.view(C_out, C * 4).
    tap = torch.arange(4, device=x.device)
    ki, kj = (tap // 2).to(x.dtype).view(4, 1, 1), (tap % 2).to(x.dtype).view(4, 1, 1)
    rows = 2 * torch.arange(Ho, device=x.device, dtype=x.dtype).view(1, Ho, 1)
    cols = 2 * torch.arange(Wo, device=x.device, dtype=x.dtype).view(1, 1, Wo)
    off = offset.view(B, 4, 2, P)
    py = off[:, :, 0] + (rows + ki).expand(4, Ho, Wo).reshape(4, P)
    px = off[:, :, 1] + (cols + kj).expand(4, Ho, Wo).reshape(4, P)
    if _index_sampling(x):
        return _gather_taps(x, py, px)
    # grid_sample, align_corners=False: pixel p sits at (2p + 1) / size - 1.
    grid = torch.stack(((2 * px + 1) / W - 1, (2 * py + 1) / H - 1), dim=-1)  # (B, 4, P, 2)
    return F.grid_sample(x, grid, mode='bilinear', padding_mode='zeros', align_corners=False)


def _index_sampling(x: torch.Tensor) -> bool:
    """Whether to sample ``x`` in the index form: on CUDA under deterministic algorithms, where
    grid_sample's backward raises. Elsewhere grid_sample: CPU's backward is deterministic and
    faster, and the ONNX exporter (on CPU) maps it to ONNX's GridSample."""
    return x.device.type == 'cuda' and torch.are_deterministic_algorithms_enabled()


def _gather_taps(x: torch.Tensor, py: torch.Tensor, px: torch.Tensor) -> torch.Tensor:
    """grid_sample's bilinear sampling (zeros outside the map) by index: x: (B, C, H, W), rows
    py and columns px (B, 4, P) in pixels -> (B, C, 4, P).

    The point (y, x) takes the 4 pixels (y0 + a, x0 + b) around it, y0 = floor(y),
    a, b in {0, 1}, weighted (1 - fy or fy) * (1 - fx or fx), fy = y - y0; a pixel outside
    the map weighs 0. At a pixel centre (fy = 0) the offset gradient is the forward
    difference, as grid_sample's at an exact one.
    """
    B, C, H, W = x.shape
    y0, x0 = py.floor(), px.floor()
    fy, fx = (py - y0).unsqueeze(-1), (px - x0).unsqueeze(-1)  # (B, 4, P, 1)
    a = torch.tensor([0, 0, 1, 1], device=x.device)
    b = torch.tensor([0, 1, 0, 1], device=x.device)
    cy, cx = y0.long().unsqueeze(-1) + a, x0.long().unsqueeze(-1) + b  # (B, 4, P, 4)
    inside = (cy >= 0) & (cy < H) & (cx >= 0) & (cx < W)
    weight = torch.where(a == 1, fy, 1 - fy) * torch.where(b == 1, fx, 1 - fx) * inside
    image = torch.arange(B, device=x.device).view(B, 1, 1, 1)
    index = (image * H + cy.clamp(0, H - 1)) * W + cx.clamp(0, W - 1)
    pixels = x.flatten(2).transpose(1, 2).reshape(B * H * W, C)  # one row of C per pixel
    # torch.use_deterministic_algorithms: "torch.index_select when attempting to
    # differentiate a CUDA tensor" acts deterministically (its backward is index_add_).
    corners = pixels.index_select(0, index.flatten()).view(*index.shape, C)
    return (corners * weight.unsqueeze(-1)).sum(3).permute(0, 3, 1, 2)


class DeformConv2x2(nn.Module):
    """The deformable conv of DTM, with the authors' key names: ``weight``, ``bias``,
    ``conv_offset.{weight,bias}``."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, 2, 2))
        self.bias = nn.Parameter(torch.empty(out_channels))
        self.conv_offset = nn.Conv2d(in_channels, 8, 2, stride=2)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)
        bound = 1 / (self.weight[0].numel() ** 0.5)
        nn.init.uniform_(self.bias, -bound, bound)
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W), H, W >= 2 -> (B, C_out, H // 2, W // 2)."""
        with torch.autocast(x.device.type, enabled=False):  # offsets in fp32 (see above)
            offset = self.conv_offset(x.to(self.conv_offset.weight.dtype))
        return deform_conv2x2_s2(x, offset, self.weight, self.bias)


class DeformableTokenMerging(nn.Module):
    """Tokens (B, H*W, C) on an H x W map -> (B, H'*W', C_out), H' = max(H // 2, 1).

    An odd map loses its last row/column (as a plain 2x2 stride-2 conv would); a map
    smaller than 2 x 2 is zero-padded to 2 rather than failing.
    """

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.dconv = DeformConv2x2(in_channels, out_channels)
        self.norm_layer = nn.BatchNorm2d(out_channels)
        self.act_layer = nn.GELU()

    def forward(self, x: torch.Tensor, H: int, W: int) -> tuple[torch.Tensor, int, int]:
        B, N, C = x.shape
        x = x.transpose(1, 2).reshape(B, C, H, W)
        if H < 2 or W < 2:
            x = F.pad(x, (0, max(2 - W, 0), 0, max(2 - H, 0)))
        x = self.dconv(x)
        with torch.autocast(x.device.type, enabled=False):  # in fp32 under autocast
            x = self.act_layer(self.norm_layer(x.to(self.norm_layer.weight.dtype)))
        _, _, Ho, Wo = x.shape
        return x.flatten(2).transpose(1, 2), Ho, Wo
