"""ConvFFN: Linear -> 3x3 depthwise conv (the only positional encoding) -> GELU -> Linear."""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import cpu_chunks


class DepthwiseConv(nn.Module):
    """3x3 depthwise conv with zero padding and bias on tokens. (B, H*W, C) -> (B, H*W, C).

    Keeps the key name ``dwconv.dwconv`` of the authors' checkpoints.
    """

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

    def init_weights(self):
        """The authors' (PVTv2's) conv init: normal(0, sqrt(2 / fan_out)), fan_out = 3*3 for a
        depthwise conv, zero bias (about 2.5x PyTorch's default scale)."""
        fan_out = self.dwconv.kernel_size[0] * self.dwconv.kernel_size[1] * \
            self.dwconv.out_channels // self.dwconv.groups
        nn.init.normal_(self.dwconv.weight, 0, math.sqrt(2.0 / fan_out))
        nn.init.zeros_(self.dwconv.bias)

    def forward(self, x, H, W):
        B, N, C = x.shape
        # (B, N, C) viewed as NCHW is already channels-last in memory: no copy either way.
        x = self.dwconv(x.transpose(1, 2).view(B, C, H, W))
        return x.flatten(2).transpose(1, 2)


def dwconv_with_input_bias(x, conv, in_bias, H, W):
    """``conv(x + in_bias)`` for a 3x3 zero-padded depthwise ``conv``, without adding the
    bias to the large input: the constant map's contribution is ``in_bias * sum(weights)``
    inside the map, minus the taps that fall on the zero padding along the border.

    x: (B, H*W, C) tokens -> (B, H*W, C).
    """
    B, N, C = x.shape
    w = conv.weight.view(C, 3, 3)
    out = F.conv2d(x.transpose(1, 2).view(B, C, H, W), conv.weight,
                   conv.bias + in_bias * w.sum((1, 2)), padding=1, groups=C)
    b = in_bias.view(1, C, 1)
    rows, cols = w.sum(2), w.sum(1)  # (C, 3): per kernel row / column
    # taps outside the map: kernel row 0 on the top row, row 2 on the bottom row, ...
    out[:, :, 0, :] -= b * rows[:, 0, None]
    out[:, :, -1, :] -= b * rows[:, 2, None]
    out[:, :, :, 0] -= b * cols[:, 0, None]
    out[:, :, :, -1] -= b * cols[:, 2, None]
    # the corner taps were subtracted twice
    for i, j in ((0, 0), (0, -1), (-1, 0), (-1, -1)):
        out[:, :, i, j] += in_bias * w[:, 2 * (i != 0), 2 * (j != 0)]
    return out.flatten(2).transpose(1, 2)


# whether this PyTorch has oneDNN's conv with a pointwise post-op
_FUSED_CONV_GELU = (torch.backends.mkldnn.is_available()
                    and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))


def conv_gelu_channels_last(x, conv, padding):
    """``gelu(conv(x))`` (exact erf GELU) for a CPU fp32 NCHW ``x`` with channels-last strides;
    the output has channels-last strides too.

    Where PyTorch has oneDNN, one kernel applies GELU as the conv's post-op while the output
    is still in cache (``torch.ops.mkldnn._convolution_pointwise``, what inductor emits for
    this pattern); otherwise, and under ``torch.jit.trace`` (FLOP counting, ONNX export: the
    tracer cannot record that op), conv, then GELU in place.
    """
    if _FUSED_CONV_GELU and x.dtype == torch.float32 and not torch.jit.is_tracing():
        return torch.ops.mkldnn._convolution_pointwise(
            x, conv.weight, conv.bias, list(padding), list(conv.stride), list(conv.dilation),
            conv.groups, 'gelu', [None], 'none')
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, padding, conv.dilation, conv.groups)
    return torch.ops.aten.gelu_(y)


class ConvFFN(nn.Module):
    """fc1 -> 3x3 depthwise conv -> GELU -> fc2 (+ dropout). (B, H*W, C) -> (B, H*W, C).

    With autograd this is the plain sequence. Without it, on a CPU the hidden (r*C wide)
    activation is computed chunk by chunk (groups of whole images, or bands of rows of one
    large image with a one-row halo carried from band to band) in cache-sized buffers, so it
    never exists as a whole; elsewhere fc1's bias is folded into the depthwise conv and GELU
    runs in place.

    Args:
        in_features (int): C.
        hidden_features (int): r * C (r = 4 in LITv2).
        drop (float): dropout after the activation and after ``fc2``.
    """

    def __init__(self, in_features, hidden_features, drop=0.):
        super().__init__()
        self.fc1 = nn.Linear(in_features, hidden_features)
        self.dwconv = DepthwiseConv(hidden_features)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden_features, in_features)
        self.drop = nn.Dropout(drop)

    def forward(self, x, H, W):
        if torch.is_grad_enabled():
            # with autograd the border fix-ups would be recorded as copies of the whole map
            x = self.act(self.dwconv(self.fc1(x), H, W))
        elif self._can_chunk(x):
            return self._chunked(x.contiguous(), H, W)
        else:
            x = F.linear(x, self.fc1.weight)
            x = dwconv_with_input_bias(x, self.dwconv.dwconv, self.fc1.bias, H, W)
            x = torch.ops.aten.gelu_(x)  # in place: no new buffer for the widest activation
        return self.drop(self.fc2(self.drop(x)))

    def residual(self, x, norm, H, W):
        """``x + self(norm(x), H, W)``, the second half of a LITv2 block. On the chunked CPU
        path the norm and the residual add run chunk by chunk too (in cache), and ``norm`` and
        this module are called as functions there (their forward hooks do not fire)."""
        if not torch.is_grad_enabled() and self._can_chunk(x):
            return self._chunked(x.contiguous(), H, W, norm=norm)
        return x + self(norm(x), H, W)

    def _can_chunk(self, x):
        return (cpu_chunks.on_cpu_without_autocast(x) and x.dtype == self.fc1.weight.dtype
                and (self.drop.p == 0 or not self.training))

    def _chunked(self, x, H, W, norm=None):
        """CPU inference, chunk by chunk. x: contiguous (B, H*W, C) -> (B, H*W, C), or
        ``x + ffn(norm(x))`` when ``norm`` is given."""
        B, N, C = x.shape
        hidden = self.fc1.out_features
        out = x.new_empty(B, N, self.fc2.out_features)
        rows = cpu_chunks.CPU_CHUNK_ELEMENTS // (W * hidden)
        if rows >= H:  # whole images, as many per chunk as fit
            group = cpu_chunks.images_per_chunk(N * hidden)
            for b in range(0, B, group):
                xs = x[b:b + group].view(-1, C)
                h = torch.addmm(self.fc1.bias, xs if norm is None else norm(xs), self.fc1.weight.t())
                self._conv_act_fc2(h.view(-1, H, W, hidden), (1, 1), out[b:b + group],
                                   None if norm is None else xs)
        else:
            for b in range(B):
                self._row_bands(x[b], out[b], H, W, max(rows, 2), norm)
        return out

    def _row_bands(self, x, out, H, W, rows, norm=None):
        """One image, ``rows`` output rows at a time. x: (H*W, C) -> out: (H*W, C_out).

        ``buf`` holds fc1's output for image rows r0 - 1 .. r1 (zeros outside the image);
        the two rows the next band shares with this one move to its top instead of being
        recomputed.
        """
        hidden = self.fc1.out_features
        buf = x.new_empty((rows + 2) * W, hidden)
        buf[:W].zero_()  # the zero row above the image
        filled = 1
        for r0 in range(0, H, rows):
            r1 = min(r0 + rows, H)
            if r0 > 0:
                buf[:2 * W].copy_(buf[(filled - 2) * W:filled * W])
                filled = 2
            first, stop = r0 - 1 + filled, min(r1 + 1, H)  # image rows fc1 still has to do
            if stop > first:
                xs = x[first * W:stop * W]
                torch.addmm(self.fc1.bias, xs if norm is None else norm(xs), self.fc1.weight.t(),
                            out=buf[filled * W:(filled + stop - first) * W])
                filled += stop - first
            if r1 == H:  # the zero row below the image
                buf[filled * W:(filled + 1) * W].zero_()
            band = buf[:(r1 - r0 + 2) * W].view(1, r1 - r0 + 2, W, hidden)
            self._conv_act_fc2(band, (0, 1), out[r0 * W:r1 * W],
                               None if norm is None else x[r0 * W:r1 * W])

    def _conv_act_fc2(self, h, padding, out, residual=None):
        """h: (b, rows, W, hidden) fc1 output -> dwconv (``padding``), GELU, fc2 into ``out``
        (plus ``residual`` if given)."""
        h = conv_gelu_channels_last(h.permute(0, 3, 1, 2), self.dwconv.dwconv, padding)
        h = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
        out = out.view(-1, out.shape[-1])
        torch.addmm(self.fc2.bias, h, self.fc2.weight.t(), out=out)
        if residual is not None:
            out.add_(residual.view_as(out))
