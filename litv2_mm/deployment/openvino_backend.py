"""mmdeploy's ``openvino`` backend on the OpenVINO of today, in fp32, bf16 or int8.

mmdeploy 1.3.1 converts with the Model Optimizer ``mo`` and runs with
``openvino.inference_engine``, both removed from OpenVINO (2025.0 / 2024.0). The manager
registered here for the ``openvino`` backend does the same two jobs with OpenVINO's own API:
``to_backend`` reads the exported ONNX file (``openvino.convert_model``), gives it the deploy
config's input shape if it names one (``backend_config.model_inputs[0].opt_shapes``, as ``mo``
did; none: dynamic) and saves the IR (``end2end.xml`` / ``.bin``); the wrapper compiles an IR
for the CPU at the deploy config's precision:

``backend_config.precision``
    ``'fp32'`` (default) compiles with ``INFERENCE_PRECISION_HINT`` f32; ``'bf16'`` with
    bf16 (OpenVINO then runs its float layers in bf16 where the CPU has bf16 instructions,
    AVX-512 BF16 or AMX); ``'int8'`` names an IR quantized by
    :func:`litv2_mm.deployment.quantize.quantize_openvino` (its float layers run in f32).

Every mmdeploy tool that builds a backend through ``get_backend_manager('openvino')`` gets
this one once the deploy config has imported ``litv2_mm.deployment.rewriters``, which
imports this module (all deploy configs of configs/deploy/ do).
"""
import os.path as osp
from typing import TYPE_CHECKING, Any, Optional, Sequence

import mmdeploy.backend.openvino  # noqa: F401  (mmdeploy's manager registers first)
import numpy as np
import torch
from mmdeploy.backend.base import BACKEND_MANAGERS, BaseWrapper
from mmdeploy.backend.openvino.backend_manager import OpenVINOManager as MMDeployOpenVINOManager

from .runtimes import openvino_core_config

if TYPE_CHECKING:
    import openvino

PRECISIONS = ('fp32', 'bf16', 'int8')
"""Values of a deploy config's ``backend_config.precision`` for the openvino backend."""


def backend_precision(deploy_cfg: Any) -> str:
    """``backend_config.precision`` of an openvino deploy config ('fp32' when unset);
    a ValueError naming the field for anything but :data:`PRECISIONS`."""
    precision = deploy_cfg['backend_config'].get('precision', 'fp32')
    if precision not in PRECISIONS:
        raise ValueError(f'backend_config.precision of the deploy config must be one of '
                         f'{PRECISIONS}, got {precision!r}')
    return precision


def input_shape(deploy_cfg: Any) -> Optional[list[int]]:
    """The static input shape an openvino deploy config asks for
    (``backend_config.model_inputs[0].opt_shapes.input``), or None (dynamic)."""
    inputs = deploy_cfg['backend_config'].get('model_inputs') or [{}]
    shapes = inputs[0].get('opt_shapes') or {}
    return list(shapes['input']) if 'input' in shapes else None


def onnx_to_openvino(onnx_file: str, xml_file: str,
                     shape: Optional[Sequence[int]] = None) -> str:
    """Convert ``onnx_file`` to an OpenVINO IR at ``xml_file`` (weights kept in fp32), with
    the static input ``shape`` if given. Returns ``xml_file``."""
    import openvino as ov
    model = ov.convert_model(onnx_file)
    if shape is not None:
        model.reshape({model.inputs[0].get_any_name(): ov.PartialShape(list(shape))})
    ov.save_model(model, xml_file, compress_to_fp16=False)
    return xml_file


def is_quantized(ir_file: str) -> bool:
    """Whether the OpenVINO IR ``ir_file`` holds int8 quantizers (FakeQuantize)."""
    import openvino as ov
    return any(op.get_type_name() == 'FakeQuantize'
               for op in ov.Core().read_model(ir_file).get_ordered_ops())


class OpenVINOCoreWrapper(BaseWrapper):
    """mmdeploy backend wrapper of an OpenVINO IR compiled for the CPU with ``openvino.Core``:
    {input name: tensor (B, 3, H, W)} -> {output name: tensor}, any input size the IR
    accepts (a dynamic IR compiles once and takes every shape).

    Args:
        ir_file: the ``.xml`` file (its ``.bin`` beside it).
        output_names: the model's outputs in order (default: the IR's).
        precision: one of :data:`PRECISIONS`.
        threads: CPU threads (default torch's thread count, as the PyTorch side uses).
    """

    def __init__(self, ir_file: str, output_names: Optional[Sequence[str]] = None,
                 precision: str = 'fp32', threads: Optional[int] = None) -> None:
        import openvino as ov
        if not osp.isfile(ir_file):
            raise FileNotFoundError(f'OpenVINO IR not found: {ir_file}')
        core = ov.Core()
        self.compiled: 'openvino.CompiledModel' = core.compile_model(
            core.read_model(ir_file), 'CPU', openvino_core_config(precision, threads))
        self.request = self.compiled.create_infer_request()
        super().__init__(list(output_names or
                              [out.get_any_name() for out in self.compiled.outputs]))

    def forward(self, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        feed = {name: np.ascontiguousarray(t.detach().cpu().numpy())
                for name, t in inputs.items()}
        results = self.request.infer(feed)
        return {name: torch.from_numpy(np.array(results[self.compiled.output(name)]))
                for name in self.output_names}

    def destroy(self) -> None:
        """Release the compiled model (mmdeploy calls this after a test run)."""
        self.request = self.compiled = None


@BACKEND_MANAGERS.register('openvino')
class OpenVINOCoreManager(MMDeployOpenVINOManager):
    """mmdeploy's ``openvino`` backend manager with OpenVINO's current API (module docstring);
    registered in mmdeploy's place when this module is imported."""

    @classmethod
    def build_wrapper(cls, backend_files: Sequence[str], device: str = 'cpu',
                      input_names: Optional[Sequence[str]] = None,
                      output_names: Optional[Sequence[str]] = None,
                      deploy_cfg: Optional[Any] = None, **kwargs: Any) -> OpenVINOCoreWrapper:
        if not str(device).startswith('cpu'):
            raise ValueError(f'the openvino backend runs on the CPU, got device {device!r}')
        precision = backend_precision(deploy_cfg) if deploy_cfg is not None else 'fp32'
        if precision == 'int8' and not is_quantized(backend_files[0]):
            raise ValueError(
                f'{backend_files[0]} is not quantized, but the deploy config asks for int8: '
                f'quantize it with tools/deployment/deploy.py (mmdeploy\'s tools have no '
                f'calibration step for OpenVINO), or give an int8 IR (end2end_int8.xml)')
        # an int8 IR keeps its float layers (softmax, box decoding, NMS, ...) in fp32
        return OpenVINOCoreWrapper(backend_files[0], output_names,
                                   'fp32' if precision == 'int8' else precision)

    @classmethod
    def to_backend(cls, ir_files: Sequence[str], work_dir: str, deploy_cfg: Any,
                   log_level: int = 20, device: str = 'cpu', **kwargs: Any) -> list[str]:
        backend_precision(deploy_cfg)  # a wrong precision fails before the conversion
        shape = input_shape(deploy_cfg)
        return [onnx_to_openvino(f, osp.join(work_dir, osp.splitext(osp.basename(f))[0] + '.xml'),
                                 shape) for f in ir_files]
