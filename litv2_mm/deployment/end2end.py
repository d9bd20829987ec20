"""Whole detectors and segmentors through mmdeploy: export, evaluate, compare with PyTorch.

The steps are mmdeploy's own (``torch2onnx``, ``to_backend``, its task processor's backend
model and test runner, ``visualize_model``), called as its ``tools/deploy.py`` and
``tools/test.py`` call them, in one process. What LITv2 itself needs from mmdeploy is in
:mod:`litv2_mm.deployment.rewriters`, which the deploy configs import.
"""
import glob
import numbers
import os.path as osp
from copy import deepcopy
from typing import TYPE_CHECKING, Any, Callable, Optional, Sequence, Union

from .quantize import CALIB_IMAGES, CALIB_SPLIT

if TYPE_CHECKING:
    import numpy as np
    import torch
    from mmengine.config import Config

METRIC_TOL = 0.002
"""Largest |deployed - PyTorch| allowed in a held metric (:data:`HELD_METRICS`) of an fp32
deployment."""
LOW_PRECISION_TOL = {'bbox_mAP': 0.01, 'segm_mAP': 0.01, 'mIoU': 0.005}
"""What a bf16 or int8 deployment holds, and to what: box AP and mask AP within 0.01, mIoU
within 0.5 points (a fraction, as :data:`PERCENT_METRICS`); the rest is shown."""
HELD_METRICS = ('bbox_mAP', 'segm_mAP', 'mIoU', 'mAcc', 'aAcc')
"""The metrics held to the tolerance (the part of a name after its ``coco/`` prefix) for every
model: box AP and mask AP (COCO's AP over IoU 0.50:0.95) and the segmentation metrics."""
COCO_BREAKDOWN = tuple(f'{kind}_mAP_{part}' for kind in ('bbox', 'segm')
                       for part in ('50', '75', 's', 'm', 'l'))
"""AP50, AP75 and the size breakdown, held too for a two-stage detector (an RPN), whose
deployed post-processing is mmdet's (:mod:`litv2_mm.deployment.rewriters`); for a one-stage
head they are shown, not held: mmdeploy's one-stage post-processing keeps other low-scoring
candidates than mmdet's (docs/deployment.md, what differs by design)."""
PERCENT_METRICS = ('mIoU', 'mAcc', 'aAcc')
"""Metrics that mmseg reports in percent: their differences are compared to the tolerance
as fractions (0.002 = 0.2 points of mIoU), as COCO's APs are."""
ROUNDING = 1e-9
"""Slack for the float error of differences of metrics rounded to 3 decimals (mmdet's)."""


def load_configs(deploy_cfg: Union[str, 'Config'],
                 model_cfg: Union[str, 'Config']) -> list['Config']:
    """(deploy config, model config) as mmdeploy loads them; paths or Configs."""
    from mmdeploy.utils import load_config
    return load_config(deploy_cfg, model_cfg)


def first_test_image(model_cfg: 'Config') -> str:
    """Path of the first image of ``model_cfg``'s test set (the export's example input)."""
    from mmengine.dataset import BaseDataset
    from mmengine.registry import DATASETS

    from ..config import registry_scope
    dataset_cfg = deepcopy(model_cfg.test_dataloader.dataset)
    dataset_cfg['lazy_init'] = True
    with registry_scope(model_cfg):
        dataset = DATASETS.build(dataset_cfg)
    if isinstance(dataset, BaseDataset):
        dataset.full_init()
    if len(dataset) == 0:
        raise ValueError('the test set of the model config is empty: give --img')
    return dataset.get_data_info(0)['img_path']


def precision(deploy_cfg: 'Config') -> str:
    """The precision a deploy config deploys in: its ``backend_config.precision`` (the
    openvino backend: 'fp32', 'bf16' or 'int8'), 'fp32' for every other backend."""
    if deploy_cfg.backend_config.type != 'openvino':
        return 'fp32'
    from .openvino_backend import backend_precision
    return backend_precision(deploy_cfg)


def tolerances(deploy_cfg: 'Config', model_cfg: 'Config',
               tol: Optional[float] = None) -> dict[str, float]:
    """{held metric: largest allowed |deployed - PyTorch|} of a deployment: fp32 holds
    :func:`held_metrics` to :data:`METRIC_TOL`, bf16 and int8 :data:`LOW_PRECISION_TOL`;
    ``tol`` replaces every value."""
    held = (dict.fromkeys(held_metrics(model_cfg), METRIC_TOL)
            if precision(deploy_cfg) == 'fp32' else dict(LOW_PRECISION_TOL))
    return {name: (value if tol is None else tol) for name, value in held.items()}


def deployed_data_preprocessor(deploy_cfg: 'Config', model_cfg: 'Config') -> 'torch.nn.Module':
    """The data preprocessor of the deployed model (the model config's, updated by
    :func:`unpadded_inputs`), as mmdeploy's backend model builds it."""
    from mmengine.registry import MODELS

    from ..config import registry_scope
    cfg = unpadded_inputs(deploy_cfg, model_cfg)(deepcopy(model_cfg.model.data_preprocessor))
    with registry_scope(model_cfg):
        return MODELS.build(cfg)


def export(deploy_cfg: Union[str, 'Config'], model_cfg: Union[str, 'Config'], checkpoint: str,
           img: Union[str, 'np.ndarray'], work_dir: str, device: str = 'cpu',
           calib_images: int = CALIB_IMAGES, calib_split: str = CALIB_SPLIT) -> list[str]:
    """ONNX export (``torch2onnx``, traced on ``img``) and conversion to the deploy
    config's backend (``to_backend``; nothing to convert for onnxruntime); for an int8
    deploy config then the post-training quantization of the converted model
    (:func:`litv2_mm.deployment.quantize.quantize_openvino`), calibrated on ``calib_images``
    images of the model config's ``calib_split``.

    Returns:
        list of the backend's model files.
    """
    from mmdeploy.apis import torch2onnx
    from mmdeploy.apis.utils import to_backend
    from mmdeploy.utils import get_backend, get_ir_config
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    save_file = get_ir_config(deploy_cfg)['save_file']
    torch2onnx(img, work_dir, save_file, deploy_cfg, model_cfg, checkpoint, device=device)
    files = to_backend(get_backend(deploy_cfg), [osp.join(work_dir, save_file)],
                       work_dir=work_dir, deploy_cfg=deploy_cfg, device=device)
    if precision(deploy_cfg) != 'int8':
        return files
    from mmengine.logging import print_log

    from .quantize import calibration_inputs, quantize_openvino
    inputs = calibration_inputs(model_cfg, deployed_data_preprocessor(deploy_cfg, model_cfg),
                                calib_images, calib_split)
    print_log(f'int8: NNCF post-training quantization, calibrated on {len(inputs)} images of '
              f'the model config\'s {calib_split} split (its test pipeline)', logger='current')
    out = osp.splitext(files[0])[0] + '_int8.xml'
    return [quantize_openvino(files[0], out, inputs)]


def unpadded_inputs(deploy_cfg: 'Config', model_cfg: 'Config') -> Callable[[dict], dict]:
    """The data preprocessor config (mmdeploy's ``data_preprocessor_updater``) of a deployed
    model: a two-stage detector in a dynamic graph gets its images unpadded
    (``pad_size_divisor`` 1), pads them inside the graph and clips its boxes to the image
    before the pad, as mmdet does (``rewriters.two_stage_detector__forward``); any other
    model gets mmdeploy's (the model config's, padded)."""
    from mmdeploy.apis import build_task_processor
    from mmdeploy.utils import is_dynamic_shape
    update = build_task_processor(model_cfg, deploy_cfg, 'cpu').update_data_preprocessor

    def updater(cfg: dict) -> dict:
        cfg = update(cfg)
        if is_dynamic_shape(deploy_cfg) and model_cfg.model.get('rpn_head') is not None:
            cfg = dict(cfg, pad_size_divisor=1)
        return cfg

    return updater


def evaluate(deploy_cfg: Union[str, 'Config'], model_cfg: Union[str, 'Config'], work_dir: str,
             backend_files: Optional[Sequence[str]] = None, checkpoint: Optional[str] = None,
             device: str = 'cpu', show_dir: Optional[str] = None) -> dict:
    """Metrics of the deployed model (``backend_files``) or, with ``checkpoint``, of the
    PyTorch model, on ``model_cfg``'s test set with its evaluator, through the same
    mmdeploy test runner (so both see the same data and the same metric code).

    Returns:
        dict: metric name -> value, as mmengine's ``Runner.test`` returns it.
    """
    from mmdeploy.apis import build_task_processor
    if (backend_files is None) == (checkpoint is None):
        raise ValueError('evaluate: give either backend_files or checkpoint')
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, device)
    loader = deepcopy(model_cfg.test_dataloader)
    loader['dataset'] = processor.build_dataset(loader['dataset'])
    dataloader = processor.build_dataloader(loader)
    if checkpoint is None:
        model = processor.build_backend_model(
            backend_files, data_preprocessor_updater=unpadded_inputs(deploy_cfg, model_cfg))
    else:
        model = processor.build_pytorch_model(checkpoint)
    runner = processor.build_test_runner(model, work_dir, show_dir=show_dir,
                                         dataloader=dataloader)
    try:
        return runner.test()
    finally:
        if hasattr(model, 'destroy'):
            model.destroy()


def held_metrics(model_cfg: 'Config') -> tuple[str, ...]:
    """The metrics held for ``model_cfg``'s model: :data:`HELD_METRICS`, and for a two-stage
    detector (``model.rpn_head``) :data:`COCO_BREAKDOWN` too."""
    two_stage = model_cfg.model.get('rpn_head') is not None
    return HELD_METRICS + (COCO_BREAKDOWN if two_stage else ())


def compare_metrics(deployed: dict, pytorch: dict, tolerance: dict[str, float],
                    ) -> list[tuple[str, Any, Any, float, Optional[bool]]]:
    """Rows (name, deployed, PyTorch, |difference|, ok) for every numeric metric of either;
    ``ok`` is None for a metric not held (not in ``tolerance``, {metric: largest allowed
    difference}: :func:`tolerances`; names without their ``coco/`` prefix). The difference
    is in the metric's own unit; the tolerances are fractions (:data:`PERCENT_METRICS`).

    A metric one side lacks is a failed row (difference ``inf``)."""
    rows = []
    for name in sorted(set(deployed) | set(pytorch)):
        a, b = deployed.get(name), pytorch.get(name)
        if not all(isinstance(v, numbers.Real) for v in (a, b)):  # numpy scalars too
            if a is None or b is None:
                rows.append((name, a, b, float('inf'), False))
            continue
        diff = abs(float(a) - float(b))
        short = name.rsplit('/', 1)[-1]
        scale = 0.01 if short in PERCENT_METRICS else 1.
        ok = diff * scale <= tolerance[short] + ROUNDING if short in tolerance else None
        rows.append((name, float(a), float(b), diff, ok))
    if not any(row[4] is not None for row in rows):
        raise ValueError(f'no metric to compare: the deployed model gave {sorted(deployed)}, '
                         f'PyTorch {sorted(pytorch)} (held: {", ".join(tolerance)})')
    return rows


def draw(deploy_cfg: Union[str, 'Config'], model_cfg: Union[str, 'Config'],
         img: Union[str, 'np.ndarray'], out_file: str,
         backend_files: Optional[Sequence[str]] = None, checkpoint: Optional[str] = None,
         device: str = 'cpu') -> str:
    """Predictions of the deployed model (``backend_files``) or of the PyTorch model
    (``checkpoint``) on ``img``, drawn by the codebase's visualizer into ``out_file``;
    returns the path of the picture (mmseg's visualizer writes ``<stem>_0.png`` instead)."""
    from mmdeploy.apis import visualize_model
    from mmdeploy.utils import Backend, get_backend
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    if checkpoint is None:
        files, backend = backend_files, get_backend(deploy_cfg)
    else:
        files, backend = [checkpoint], Backend.PYTORCH
    visualize_model(model_cfg, deploy_cfg, files, img, device, backend=backend,
                    output_file=out_file, show_result=False)
    if osp.isfile(out_file):
        return out_file
    # mmseg's visualizer names its picture itself: <stem>_<index>.png beside out_file
    stem = osp.splitext(out_file)[0]
    written = sorted(glob.glob(glob.escape(stem) + '_*'))
    if not written:
        raise RuntimeError(f'the visualizer wrote no picture at {out_file} (or {stem}_*)')
    return written[0]
