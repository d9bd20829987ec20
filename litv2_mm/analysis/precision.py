"""How far a model's outputs under autocast are from fp32: the relative difference
``||y - y_fp32|| / ||y_fp32||`` of every output tensor (a backbone's stage outputs)."""
from typing import Iterable

import torch
import torch.nn as nn

from .benchmark import output_tensors


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """``||a - b|| / ||b||`` in fp32."""
    a, b = a.float(), b.float()
    return ((a - b).norm() / b.norm()).item()


def autocast_errors(model: nn.Module, images: torch.Tensor, dtypes: Iterable[torch.dtype],
                    device_type: str = 'cpu') -> dict[torch.dtype, list[float]]:
    """``{dtype: [relative difference of output i]}`` of ``model(images)`` under autocast to
    each dtype against fp32, without autograd (``model`` as it is: eval mode for inference,
    which takes the CPU speed-ups where they apply)."""
    with torch.no_grad():
        reference = list(output_tensors(model(images)))
        errors = {}
        for dtype in dtypes:
            with torch.autocast(device_type, dtype=dtype):
                outputs = list(output_tensors(model(images)))
            errors[dtype] = [relative_difference(a, b) for a, b in zip(outputs, reference)]
    return errors
