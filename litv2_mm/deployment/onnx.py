"""ONNX export of the LITv2 backbone, of backbone + FPN (detectors) and of mmpretrain
classifiers, with dynamic batch and image size, and a check against onnxruntime. Whole
detectors and segmentors go through mmdeploy (``litv2_mm.deployment.end2end``).

The TorchScript exporter traces one input, and Python branches on sizes are frozen at the
traced size. The backbone's pads (the stem's to a multiple of 4, HiLo's to a multiple of
the window) are therefore always taken while tracing (a zero pad is a no-op), so the graph
is right for every image size whose stage-3 map is at least 2 x 2 (sides >= 29 px; DTM pads
smaller maps in a branch that is frozen).
"""
import warnings
from pathlib import Path
from typing import Iterable, Sequence, Union

import numpy as np
import torch
import torch.nn as nn

from .runtimes import onnxruntime_session

OPSET = 17


class BackboneNeck(nn.Module):
    """Backbone followed by the neck (FPN): (B, 3, H, W) -> tuple of FPN maps."""

    def __init__(self, backbone: nn.Module, neck: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.neck = neck

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return tuple(self.neck(self.backbone(x)))


class ClassifierLogits(nn.Module):
    """An mmpretrain ``ImageClassifier`` without its data preprocessor:
    normalised (B, 3, H, W) -> logits (B, num_classes)."""

    def __init__(self, classifier: nn.Module) -> None:
        super().__init__()
        self.classifier = classifier

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(x, mode='tensor')


def export_onnx(model: nn.Module, path: Union[str, Path], output_names: Union[str, Sequence[str]],
                input_size: Sequence[int] = (224, 224), opset: int = OPSET) -> list[str]:
    """Export ``model`` to ``path``, traced on one random (1, 3, *input_size) image, with
    dynamic batch and image size (dim 0 of every output, dims 2, 3 of 4-D outputs).

    ``output_names``: a list with one name per output, or a prefix numbered per output
    ('fpn' -> fpn0, fpn1, ...; a single tensor output gets the prefix itself).
    Returns the output names.
    """
    x = torch.randn(1, 3, *input_size)
    with torch.no_grad():
        outs = model(x)
    if isinstance(output_names, str):
        output_names = ([f'{output_names}{i}' for i in range(len(outs))]
                        if isinstance(outs, (tuple, list)) else [output_names])
    outs = outs if isinstance(outs, (tuple, list)) else (outs, )
    if len(outs) != len(output_names):
        raise ValueError(f'{len(outs)} outputs but {len(output_names)} output names')
    dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
    for name, out in zip(output_names, outs):
        spatial = {2: f'{name}_h', 3: f'{name}_w'} if out.dim() == 4 else {}
        dynamic_axes[name] = {0: 'batch', **spatial}
    with warnings.catch_warnings():
        # The size checks the tracer warns about hold for every size (see the module's doc).
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(model, (x, ), str(path), dynamo=False, opset_version=opset,
                          input_names=['input'], output_names=list(output_names),
                          dynamic_axes=dynamic_axes, do_constant_folding=True)
    return list(output_names)


def compare_with_onnxruntime(model: nn.Module, path: Union[str, Path],
                             shapes: Iterable[Sequence[int]],
                             seed: int = 0) -> list[tuple[tuple[int, ...], float]]:
    """Run PyTorch and onnxruntime (CPU) on random inputs of each (B, 3, H, W) in ``shapes``.

    Returns:
        list of (shape, max |torch - onnxruntime| over all outputs).
    """
    session = onnxruntime_session(path)
    generator = torch.Generator().manual_seed(seed)
    results = []
    for shape in shapes:
        x = torch.randn(*shape, generator=generator)
        with torch.no_grad():
            ref = model(x)
        ref = ref if isinstance(ref, (tuple, list)) else (ref, )
        got = session.run(None, {'input': x.numpy()})
        if len(got) != len(ref):
            raise RuntimeError(f'{path}: {len(got)} ONNX outputs, PyTorch gives {len(ref)}')
        diff = 0.
        for r, g in zip(ref, got):
            if tuple(r.shape) != g.shape:
                raise RuntimeError(f'{path}: output shape {g.shape} for input {tuple(shape)}, '
                                   f'PyTorch gives {tuple(r.shape)}')
            diff = max(diff, float(np.abs(r.numpy() - g).max()))
        results.append((tuple(shape), diff))
    return results
