"""ConvFFN: Linear -> 3x3 depthwise conv (the only positional encoding) -> GELU -> Linear."""
import math

import torch.nn as nn


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


class ConvFFN(nn.Module):
    """fc1 -> 3x3 depthwise conv -> GELU -> fc2 (+ dropout). (B, H*W, C) -> (B, H*W, C).

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
        x = self.act(self.dwconv(self.fc1(x), H, W))
        return self.drop(self.fc2(self.drop(x)))
