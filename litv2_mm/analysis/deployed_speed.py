"""Speed of whole LITv2 detectors and segmentors, PyTorch beside their deployments, in fp32,
bf16 and int8, side by side in one run (issue 30, point 3).

Per model (:data:`WHOLE_MODELS`: RetinaNet and Mask R-CNN LITv2-S at 800 x 1333, Semantic FPN
and UperNet LITv2-S at 512 x 512, batch 1; random weights, seeded) the rows are:

- ``pytorch`` fp32 and bf16 (what ``--amp`` runs on the CPU:
  :func:`litv2_mm.engine.amp.autocast_features`, the feature extractor under bf16 autocast,
  the heads in fp32, as mmcv's CPU NMS and RoIAlign need): mmdeploy's PyTorch model's
  ``test_step`` on the raw image (data preprocessor, model, post-processing
  and rescaling: what a user's call costs), mode ``eager``;
- ``onnxruntime`` fp32 and int8 (ONNX Runtime's own static quantization, QDQ, Conv / MatMul /
  Gemm, per channel) and ``openvino`` fp32, bf16 (its inference-precision hint) and int8
  (:func:`litv2_mm.deployment.quantize.quantize_openvino`, the recipe ``deploy.py`` uses):
  the exported end-to-end graph (mmdeploy, ``configs/deploy/*_onnxruntime_dynamic.py``: box
  decoding and NMS, or the argmax, inside) on the preprocessed image, mode ``graph``;
  OpenVINO compiles it for that image's shape.
  ONNX Runtime has no bf16 kernels for convolutions and matrix products on x86 CPUs: no row.

Every row runs on torch's thread count; the rows of one model are timed in interleaved
rounds (:func:`litv2_mm.analysis.benchmark.time_interleaved`). The int8 graphs are calibrated
on random images here (the full-size configs' datasets are not on this machine): the rows
measure speed only; accuracy is what ``tools/deployment/deploy.py`` holds on trained models
with the same recipe (docs/deployment.md).
"""
import os
import os.path as osp
import statistics
import sys
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

import numpy as np
import torch

from ..engine.amp import autocast_features
from .benchmark import time_interleaved
from .speed_table import SpeedRow, cpu_model, utc_now, versions

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


@dataclass(frozen=True)
class WholeModel:
    """A whole model of the speed table: its config (relative to the repository), task,
    input (H, W) and the dynamic deploy config it is exported with."""

    config: str
    task: str
    shape: tuple
    deploy_config: str


WHOLE_MODELS = {
    'retinanet': WholeModel('configs/retinanet/litv2_s_1x.py', 'detection', (800, 1333),
                            'configs/deploy/detection_onnxruntime_dynamic.py'),
    'mask_rcnn': WholeModel('configs/mask_rcnn/litv2_s_1x.py', 'instance-seg', (800, 1333),
                            'configs/deploy/instance-seg_onnxruntime_dynamic.py'),
    'sem_fpn': WholeModel('configs/sem_fpn/litv2_s_512x512_80k_ade20k.py', 'segmentation',
                          (512, 512), 'configs/deploy/segmentation_onnxruntime_dynamic.py'),
    'upernet': WholeModel('configs/upernet/litv2_s_512x512_160k_ade20k.py', 'segmentation',
                          (512, 512), 'configs/deploy/segmentation_onnxruntime_dynamic.py'),
}
RUNTIME_ROWS = (('pytorch', 'fp32'), ('pytorch', 'bf16'), ('onnxruntime', 'fp32'),
                ('onnxruntime', 'int8'), ('openvino', 'fp32'), ('openvino', 'bf16'),
                ('openvino', 'int8'))
"""(runtime, precision) of the rows of each model, in order."""
CALIB_IMAGES = 4
"""Random calibration images of the int8 rows (speed only)."""


def quantize_onnxruntime(onnx_file: str, out_file: str, inputs: Sequence[np.ndarray]) -> str:
    """ONNX Runtime's static int8 quantization of ``onnx_file`` (QDQ, Conv / MatMul / Gemm,
    per-channel weights, min-max calibration on ``inputs``); returns ``out_file``."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{'input': x} for x in inputs])

        def get_next(self) -> Optional[dict]:
            return next(self.items, None)

    quantize_static(onnx_file, out_file, Reader(), quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=['Conv', 'MatMul', 'Gemm'], per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
    return out_file


def _graph_step(runtime: str, path: str, feed: dict[str, np.ndarray],
                precision: str = 'fp32') -> Callable[[], Any]:
    from ..deployment.runtimes import (onnxruntime_session, openvino_model, run_onnxruntime,
                                       run_openvino)
    if runtime == 'onnxruntime':
        session = onnxruntime_session(path)
        return lambda: run_onnxruntime(session, feed)
    # compiled for the timed input's shape, as the *_openvino_dynamic-800x1344.py configs do
    # (a dynamic IR runs slower: 405 against 295 ms, Semantic FPN at 512 x 512, fp32)
    compiled = openvino_model(path, precision='bf16' if precision == 'bf16' else 'fp32',
                              shape=feed['input'].shape)
    return lambda: run_openvino(compiled, feed)


def model_steps(name: str, spec: WholeModel, work_dir: str, seed: int = 0,
                calib_images: int = CALIB_IMAGES) -> dict[tuple[str, str], Callable[[], Any]]:
    """{(runtime, precision): step} of one whole model (:data:`RUNTIME_ROWS`), exported,
    converted and quantized into ``work_dir/name``."""
    from mmdeploy.apis import build_task_processor

    from ..apis import init_model
    from ..config import load_config
    from ..deployment.end2end import deployed_data_preprocessor, export, load_configs
    from ..deployment.openvino_backend import onnx_to_openvino
    from ..deployment.quantize import quantize_openvino
    cfg = load_config(osp.join(REPO, spec.config))
    out = osp.join(work_dir, name)
    os.makedirs(out, exist_ok=True)
    torch.manual_seed(seed)
    checkpoint = osp.join(out, 'random_weights.pth')
    torch.save({'state_dict': init_model(cfg).state_dict()}, checkpoint)
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 256, (*spec.shape, 3), dtype=np.uint8)
    deploy_cfg, model_cfg = load_configs(osp.join(REPO, spec.deploy_config), cfg)
    onnx_file = export(deploy_cfg, model_cfg, checkpoint, image, out)[0]
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    pytorch = processor.build_pytorch_model(checkpoint)
    raw, _ = processor.create_input(image)
    preprocess = deployed_data_preprocessor(deploy_cfg, model_cfg)

    def graph_input(img: np.ndarray) -> np.ndarray:
        data, _ = processor.create_input(img)
        with torch.no_grad():
            return preprocess(data, False)['inputs'].numpy()

    feed = {'input': graph_input(image)}
    calib = [graph_input(rng.integers(0, 256, (*spec.shape, 3), dtype=np.uint8))
             for _ in range(calib_images)]
    xml = onnx_to_openvino(onnx_file, osp.join(out, 'end2end.xml'))
    ort_int8 = quantize_onnxruntime(onnx_file, osp.join(out, 'end2end_ort_int8.onnx'), calib)
    ov_int8 = quantize_openvino(xml, osp.join(out, 'end2end_int8.xml'), calib)

    def pytorch_step(bf16: bool) -> Callable[[], Any]:
        def step() -> Any:
            with torch.no_grad(), (autocast_features(pytorch) if bf16 else nullcontext()):
                return pytorch.test_step(raw)
        return step

    return {('pytorch', 'fp32'): pytorch_step(False), ('pytorch', 'bf16'): pytorch_step(True),
            ('onnxruntime', 'fp32'): _graph_step('onnxruntime', onnx_file, feed),
            ('onnxruntime', 'int8'): _graph_step('onnxruntime', ort_int8, feed),
            ('openvino', 'fp32'): _graph_step('openvino', xml, feed),
            ('openvino', 'bf16'): _graph_step('openvino', xml, feed, 'bf16'),
            ('openvino', 'int8'): _graph_step('openvino', ov_int8, feed)}


def whole_model_rows(models: Sequence[str], runs: int, warmup: int, work_dir: str,
                     seed: int = 0) -> list[SpeedRow]:
    """Speed rows (:class:`SpeedRow`) of the whole models ``models`` (keys of
    :data:`WHOLE_MODELS`), each model's rows timed in interleaved rounds: ``warmup``
    untimed, then ``runs`` timed iterations of each row; latency = the median."""
    unknown = [m for m in models if m not in WHOLE_MODELS]
    if unknown:
        raise ValueError(f'unknown whole model(s) {unknown}: choose from {sorted(WHOLE_MODELS)}')
    cpu, date = cpu_model(), utc_now()
    libraries = {'pytorch': versions('torch', 'mmdet', 'mmsegmentation'),
                 'onnxruntime': versions('onnxruntime', 'mmdeploy'),
                 'openvino': versions('openvino', 'nncf', 'mmdeploy')}
    rows = []
    for name in models:
        spec = WHOLE_MODELS[name]
        steps = model_steps(name, spec, work_dir, seed)
        times = time_interleaved({f'{r} {p}': s for (r, p), s in steps.items()}, runs, warmup,
                                 'cpu')
        for runtime, precision in steps:
            seconds = statistics.median(times[f'{runtime} {precision}'])
            note = ('test_step: preprocessing, model, post-processing' if runtime == 'pytorch'
                    else 'exported graph on the preprocessed image')
            if precision == 'int8':
                note += '; calibrated on random images (speed only)'
            rows.append(SpeedRow(
                model=f'{name}_litv2_s', task=spec.task, input_size='x'.join(map(str, spec.shape)),
                batch=1, precision=precision, runtime=runtime,
                mode='eager' if runtime == 'pytorch' else 'graph', img_per_s=1 / seconds,
                latency_ms=seconds * 1e3, peak_memory_mb=None, cpu=cpu,
                versions=libraries[runtime], date=date, note=note))
            print(f'[deployed_speed] {name} {runtime} {precision}: {seconds * 1e3:.0f} ms',
                  file=sys.stderr)
    return rows
