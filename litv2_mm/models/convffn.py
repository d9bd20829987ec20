"""ConvFFN: Linear -> 3x3 depthwise conv (the only positional encoding) -> GELU -> Linear."""
import torch
import torch.nn as nn
import torch.nn.functional as F


class DepthwiseConv(nn.Module):
    """3x3 depthwise conv with zero padding and bias on tokens. (B, H*W, C) -> (B, H*W, C).

    Keeps the key name ``dwconv.dwconv`` of the authors' checkpoints.
    """

    def __init__(self, dim):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, 3, 1, 1, bias=True, groups=dim)

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


class ConvFFN(nn.Module):
    """Feed-forward block with a depthwise conv. (B, H*W, C) -> (B, H*W, C).

    ``fc1``'s bias is folded into the depthwise conv (exact, see
    :func:`dwconv_with_input_bias`) and GELU runs in place when autograd is off (inference),
    which saves passes over, and buffers for, the widest activation.

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
        else:
            x = F.linear(x, self.fc1.weight)
            x = dwconv_with_input_bias(x, self.dwconv.dwconv, self.fc1.bias, H, W)
            x = torch.ops.aten.gelu_(x)  # in place: no new buffer for the widest activation
        return self.drop(self.fc2(self.drop(x)))
