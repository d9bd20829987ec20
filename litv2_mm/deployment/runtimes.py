"""The CPU runtimes a deployed LITv2 runs in: ONNX Runtime and OpenVINO, on one ONNX file.

Both take the thread count the PyTorch side uses, so that a comparison gives every runtime
the same cores. mmdeploy's own OpenVINO backend cannot run with an OpenVINO of 2024 or later
(it calls the Model Optimizer ``mo`` and ``openvino.inference_engine``, both removed; see
docs/deployment.md): :func:`openvino_model` reads the ONNX file with OpenVINO's own reader.
"""
import os.path as osp
from pathlib import Path
from typing import TYPE_CHECKING, Optional, Sequence, Union

import numpy as np
import torch

if TYPE_CHECKING:
    import onnxruntime
    import openvino


def mmdeploy_ops_library() -> Optional[str]:
    """Path of mmdeploy's onnxruntime custom-op library, or None without mmdeploy (graphs of
    ``configs/deploy/`` at opset >= 16 need none of its operators)."""
    try:
        from mmdeploy.backend.onnxruntime.init_plugins import get_ops_path
    except ImportError:
        return None
    path = get_ops_path()
    return path if path and osp.isfile(path) else None


def onnxruntime_session(path: Union[str, Path],
                        threads: Optional[int] = None) -> 'onnxruntime.InferenceSession':
    """An onnxruntime CPU session of the ONNX file ``path`` on ``threads`` intra-op threads
    (default: torch's thread count), with mmdeploy's custom operators where installed."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or torch.get_num_threads()
    ops = mmdeploy_ops_library()
    if ops:
        options.register_custom_ops_library(ops)
    return ort.InferenceSession(str(path), options, providers=['CPUExecutionProvider'])


OPENVINO_PRECISION_HINTS = {'fp32': 'f32', 'bf16': 'bf16'}


def openvino_core_config(precision: str = 'fp32', threads: Optional[int] = None) -> dict:
    """OpenVINO CPU compile options: ``precision`` 'fp32' or 'bf16' (the precision its float
    layers run in: ``INFERENCE_PRECISION_HINT``), ``threads`` (default: torch's)."""
    if precision not in OPENVINO_PRECISION_HINTS:
        raise ValueError(f'OpenVINO runs float layers in {sorted(OPENVINO_PRECISION_HINTS)}, '
                         f'got {precision!r}')
    return {'INFERENCE_NUM_THREADS': threads or torch.get_num_threads(),
            'INFERENCE_PRECISION_HINT': OPENVINO_PRECISION_HINTS[precision]}


def openvino_model(path: Union[str, Path], threads: Optional[int] = None,
                   precision: str = 'fp32',
                   shape: Optional[Sequence[int]] = None) -> 'openvino.CompiledModel':
    """The ONNX file or OpenVINO IR ``path`` compiled by OpenVINO for the CPU, its float layers
    in ``precision`` ('fp32' or 'bf16'; an int8 IR's quantized layers run in int8 either
    way), on ``threads`` threads (default: torch's), for the static input ``shape`` if given
    (else the model's, dynamic or not). Raises ImportError without openvino."""
    import openvino as ov
    core = ov.Core()
    model = core.read_model(str(path))
    if shape is not None:
        model.reshape({model.inputs[0].get_any_name(): ov.PartialShape(list(shape))})
    return core.compile_model(model, 'CPU', openvino_core_config(precision, threads))


def run_onnxruntime(session: 'onnxruntime.InferenceSession',
                    inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Outputs (numpy arrays) of an onnxruntime session on {input name: array}."""
    return session.run(None, inputs)


def run_openvino(compiled: 'openvino.CompiledModel',
                 inputs: dict[str, np.ndarray]) -> list[np.ndarray]:
    """Outputs (numpy arrays, in the model's output order) of a compiled OpenVINO model."""
    result = compiled(inputs)
    return [np.asarray(result[out]) for out in compiled.outputs]
