"""Exportable forms of what mmdet's and mmseg's test-time code computes, for the rewrites of
:mod:`litv2_mm.deployment.rewriters`: plain tensor operations that the TorchScript ONNX
exporter writes with standard operators for any (dynamic) input size. No mmdeploy import
here, so they are tested in plain PyTorch too."""
from typing import Optional, Sequence, Union

import torch


def pooling_matrix(x: torch.Tensor, dim: int, bins: int) -> torch.Tensor:
    """(bins, size) matrix that averages ``x`` along ``dim`` (of length ``size``) into
    ``bins`` bins as PyTorch's adaptive average pooling does: bin ``i`` covers positions
    ``floor(i * size / bins)`` .. ``ceil((i + 1) * size / bins) - 1``.

    Position ``p`` is in bin ``i`` iff ``i * size < (p + 1) * bins`` and
    ``p * bins < (i + 1) * size`` (the two bounds, multiplied out: integer products only, exact
    in float32 for any realistic size). ``size`` is read from the shape of ``x`` as a tensor,
    so the exported graph computes the matrix for the size it is given."""
    length = torch._shape_as_tensor(x)[dim]
    size = length.to(x.dtype)
    positions = torch.arange(length, device=x.device).to(x.dtype)
    index = torch.arange(bins, device=x.device).to(x.dtype).unsqueeze(1)
    member = ((index * size < (positions + 1) * bins)
              & (positions * bins < (index + 1) * size)).to(x.dtype)
    return member / member.sum(1, keepdim=True)


def adaptive_avg_pool2d(x: torch.Tensor,
                        output_size: Union[int, Sequence[Optional[int]]]) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(x, output_size)`` for (N, C, H, W) ``x`` as two matrix products
    with :func:`pooling_matrix` (rows, then columns): exact for every H and W (the bins may
    overlap, H may be smaller than the bin count), in ONNX MatMul for dynamic shapes too, where
    the exporter's AveragePool needs bin counts that divide the map."""
    if isinstance(output_size, int):
        output_size = (output_size, output_size)
    bins_h, bins_w = output_size
    if bins_h is not None:
        x = torch.matmul(pooling_matrix(x, 2, bins_h), x)
    if bins_w is not None:
        x = torch.matmul(x, pooling_matrix(x, 3, bins_w).transpose(0, 1))
    return x


def kept_mask(selected: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
    """Boolean mask, shaped as ``scores`` (B, C, N), of the boxes that ONNX's
    NonMaxSuppression ``selected``: its (S, 3) rows (batch, class, box)."""
    num_classes, num_boxes = scores.shape[1], scores.shape[2]
    flat = (selected[:, 0] * num_classes + selected[:, 1]) * num_boxes + selected[:, 2]
    kept = torch.zeros_like(scores.reshape(-1)).scatter(
        0, flat, torch.ones_like(flat, dtype=scores.dtype))
    return kept.reshape(scores.shape) > 0
