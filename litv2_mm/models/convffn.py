"""ConvFFN: Linear -> 3x3 depthwise conv (the only positional encoding) -> GELU -> Linear.

Two ways to compute a block's ``x + ConvFFN(LayerNorm(x))``: the plain :meth:`ConvFFN.forward`
(training, GPUs, export) and, for CPU inference, :meth:`ConvFFN.residual_in_chunks`, the same
function in cache-sized chunks (see :mod:`~litv2_mm.models.cpu_inference`).
"""
import math
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cpu_inference import CHUNK_ELEMENTS, FUSED_CONV_GELU, images_per_chunk


class DepthwiseConv(nn.Module):
    """3x3 depthwise conv with zero padding and bias on tokens. (B, H*W, C) -> (B, H*W, C).

    Keeps the key name ``dwconv.dwconv`` of the authors' checkpoints.
    """

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)
        self.fused_gelu = FUSED_CONV_GELU  # decided once: oneDNN's conv with a GELU post-op

    def init_weights(self) -> None:
        """The authors' (PVTv2's) conv init: normal(0, sqrt(2 / fan_out)), fan_out = 3*3 for a
        depthwise conv, zero bias (about 2.5x PyTorch's default scale)."""
        fan_out = self.dwconv.kernel_size[0] * self.dwconv.kernel_size[1] * \
            self.dwconv.out_channels // self.dwconv.groups
        nn.init.normal_(self.dwconv.weight, 0, math.sqrt(2.0 / fan_out))
        nn.init.zeros_(self.dwconv.bias)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        B, N, C = x.shape
        # (B, N, C) viewed as NCHW is already channels-last in memory: no copy either way.
        x = self.dwconv(x.transpose(1, 2).view(B, C, H, W))
        return x.flatten(2).transpose(1, 2)

    def conv_gelu(self, x: torch.Tensor, padding: Sequence[int]) -> torch.Tensor:
        """``gelu(conv(x))`` (exact erf GELU) with ``padding`` (rows, columns) for a CPU fp32 or
        bf16 NCHW ``x`` with channels-last strides, in x's dtype, without autograd; the
        output has channels-last strides too. Where PyTorch has oneDNN one kernel applies
        GELU as the conv's post-op while the output is still in cache
        (``torch.ops.mkldnn._convolution_pointwise``, what inductor emits for this pattern);
        otherwise conv, then GELU in place."""
        conv = self.dwconv
        weight, bias = conv.weight.to(x.dtype), conv.bias.to(x.dtype)
        if self.fused_gelu:
            return torch.ops.mkldnn._convolution_pointwise(
                x, weight, bias, list(padding), list(conv.stride), list(conv.dilation),
                conv.groups, 'gelu', [None], 'none')
        y = F.conv2d(x, weight, bias, conv.stride, padding, conv.dilation, conv.groups)
        return torch.ops.aten.gelu_(y)


class ConvFFN(nn.Module):
    """fc1 -> 3x3 depthwise conv -> GELU -> fc2 (+ dropout). (B, H*W, C) -> (B, H*W, C).

    Args:
        in_features (int): C.
        hidden_features (int): r * C (r = 4 in LITv2).
        drop (float): dropout after the activation and after ``fc2``.
    """

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.) -> None:
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.dwconv = DepthwiseConv(hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor, H: int, W: int) -> torch.Tensor:
        x = self.act(self.dwconv(self.fc1(x), H, W))
        return self.drop(self.fc2(self.drop(x)))

    def residual_in_chunks(self, x: torch.Tensor, norm: nn.LayerNorm, H: int, W: int,
                           dtype: torch.dtype = torch.float32,
                           chunk_elements: int = CHUNK_ELEMENTS) -> torch.Tensor:
        """``x + self(norm(x), H, W)`` without autograd and dropout (CPU inference), chunk by
        chunk: groups of whole images, or bands of rows of one large image, each chunk's
        widest intermediate at most ``chunk_elements`` elements. fc1, the depthwise conv +
        GELU and fc2 compute in ``dtype`` (fp32 or bf16); ``x``, the LayerNorm and the
        residual sum stay fp32. x: (B, H*W, C) fp32 -> a new (B, H*W, C) fp32 tensor."""
        x = x.contiguous()
        B, N, C = x.shape
        hidden = self.fc1.out_features
        out = torch.empty_like(x)
        rows = chunk_elements // (W * hidden)
        with torch.autocast('cpu', enabled=False):  # explicit dtypes below
            fcs = [t.to(dtype) for t in (self.fc1.weight, self.fc1.bias, self.fc2.weight,
                                         self.fc2.bias)]
            if rows >= H:  # whole images, as many per chunk as fit
                group = images_per_chunk(N * hidden, chunk_elements)
                for b in range(0, B, group):
                    xs = x[b:b + group].view(-1, C)
                    h = torch.addmm(fcs[1], norm(xs).to(dtype), fcs[0].t())
                    self._conv_gelu_fc2(fcs, h.view(-1, H, W, hidden), (1, 1), out[b:b + group],
                                        xs)
            else:
                for b in range(B):
                    self._row_bands(x[b], norm, fcs, out[b], H, W, max(rows, 2))
        return out

    def _row_bands(self, x: torch.Tensor, norm: nn.LayerNorm, fcs: list, out: torch.Tensor,
                   H: int, W: int, rows: int) -> None:
        """One image, ``rows`` output rows at a time. x: (H*W, C) -> out: (H*W, C).

        ``buf`` holds fc1's output for image rows r0 - 1 .. r1 (zeros outside the image); the
        two rows the next band shares with this one move to its top instead of being
        recomputed.
        """
        w1, b1 = fcs[:2]
        hidden = w1.shape[0]
        buf = x.new_empty((rows + 2) * W, hidden, dtype=w1.dtype)
        buf[:W].zero_()  # the zero row above the image
        filled = 1
        for r0 in range(0, H, rows):
            r1 = min(r0 + rows, H)
            if r0 > 0:
                buf[:2 * W].copy_(buf[(filled - 2) * W:filled * W])
                filled = 2
            first, stop = r0 - 1 + filled, min(r1 + 1, H)  # image rows fc1 still has to do
            if stop > first:
                torch.addmm(b1, norm(x[first * W:stop * W]).to(w1.dtype), w1.t(),
                            out=buf[filled * W:(filled + stop - first) * W])
                filled += stop - first
            if r1 == H:  # the zero row below the image
                buf[filled * W:(filled + 1) * W].zero_()
            band = buf[:(r1 - r0 + 2) * W].view(1, r1 - r0 + 2, W, hidden)
            self._conv_gelu_fc2(fcs, band, (0, 1), out[r0 * W:r1 * W], x[r0 * W:r1 * W])

    def _conv_gelu_fc2(self, fcs: list, h: torch.Tensor, padding: Sequence[int],
                       out: torch.Tensor, residual: torch.Tensor) -> None:
        """h: (b, rows, W, hidden) fc1 output -> depthwise conv (``padding``), GELU, fc2
        (weight and bias ``fcs[2:]``, in h's dtype) plus ``residual`` into the fp32 ``out``."""
        w2, b2 = fcs[2:]
        h = self.dwconv.conv_gelu(h.permute(0, 3, 1, 2), padding)
        h = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
        out = out.view(-1, out.shape[-1])
        if h.dtype == out.dtype:  # fc2 writes straight into the output
            torch.addmm(b2, h, w2.t(), out=out)
            out.add_(residual.view_as(out))
        else:
            torch.add(residual.view_as(out), torch.addmm(b2, h, w2.t()), out=out)
