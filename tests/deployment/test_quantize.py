"""int8 and bf16 deployments: NNCF's post-training quantization of a LITv2 graph, the
calibration images of a model config, and mmdeploy's ``openvino`` backend on OpenVINO's
current API (litv2_mm.deployment.quantize, litv2_mm.deployment.openvino_backend).

Fast part: a tiny LITv2 backbone quantized with the recipe deploy.py uses, against PyTorch
fp32 (every stage's output close in direction and size); the backend manager and wrapper on
it; the calibration images. The trained models' box AP / mIoU in int8 and bf16 through
tools/deployment/deploy.py are in test_end2end.py (slow part).
"""
import os.path as osp

import numpy as np
import pytest
import torch

from litv2_mm.apis import init_model
from litv2_mm.config import load_tool_config
from litv2_mm.deployment import export_onnx

from helpers import TINY

pytestmark = pytest.mark.openvino_in_process
ov = pytest.importorskip('openvino')
pytest.importorskip('nncf')
pytest.importorskip('mmdeploy')

backend = pytest.importorskip('litv2_mm.deployment.openvino_backend')
quantize = pytest.importorskip('litv2_mm.deployment.quantize')
OpenVINOCoreWrapper, onnx_to_openvino = backend.OpenVINOCoreWrapper, backend.onnx_to_openvino
calibration_inputs, quantize_openvino = quantize.calibration_inputs, quantize.quantize_openvino

# int8 against fp32, per stage output: cosine similarity and relative L2 error of the whole
# map (8-bit activations and weights of a random tiny network, calibrated on 8 random inputs
# and run at another size; measured 2026-12-07: stages 1-4 cosine 0.99993 / 0.99985 / 0.9975
# / 0.988, relative error 0.012 / 0.017 / 0.071 / 0.155: the error grows with depth)
COSINE, REL_ERR = 0.98, 0.25
BF16_REL_ERR = 0.06  # bf16 keeps 8 bits of mantissa; measured at most 0.031 (stage 2, 2026-12-07)


def relative_error(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def cosine(a, b):
    a, b = a.ravel(), b.ravel()
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture(scope='module')
def tiny_backbone(tmp_path_factory):
    """(model, ONNX path, IR path, calibration inputs) of a tiny random LITv2 backbone."""
    torch.manual_seed(0)
    model = init_model(dict(type='LITv2', arch=TINY)).eval()
    work = tmp_path_factory.mktemp('quantize')
    names = export_onnx(model, work / 'litv2.onnx', 'out', input_size=(64, 64))
    xml = onnx_to_openvino(str(work / 'litv2.onnx'), str(work / 'litv2.xml'))
    rng = np.random.default_rng(0)
    calib = [rng.standard_normal((1, 3, 64, 64)).astype(np.float32) for _ in range(8)]
    return model, names, xml, calib


def test_the_int8_backbone_computes_what_pytorch_computes(tiny_backbone, tmp_path):
    model, names, xml, calib = tiny_backbone
    out = quantize_openvino(xml, str(tmp_path / 'int8.xml'), calib)
    ir = ov.Core().read_model(out)
    fq = [op.get_friendly_name() for op in ir.get_ordered_ops()
          if op.get_type_name() == 'FakeQuantize']
    assert len(fq) > 10, fq  # the MLPs' and attention's GEMMs are quantized ...
    # ... DTM's offsets are not (a quantized offset moves the sampling points)
    offsets = [op for op in ir.get_ordered_ops() if 'conv_offset' in op.get_friendly_name()
               and op.get_type_name() == 'Convolution']
    assert offsets
    for conv in offsets:
        assert all(src.get_node().get_type_name() != 'FakeQuantize'
                   for src in (conv.input_value(0), conv.input_value(1))), conv
    wrapper = OpenVINOCoreWrapper(out, names)
    x = torch.randn(2, 3, 96, 80, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = [o.numpy() for o in model(x)]
    got = wrapper({'input': x})
    assert list(got) == names
    for name, ref in zip(names, expected):
        int8 = got[name].numpy()
        assert int8.shape == ref.shape, name
        assert cosine(int8, ref) >= COSINE, name
        assert relative_error(int8, ref) <= REL_ERR, name


@pytest.mark.parametrize('precision,tol', [('fp32', 1e-5), ('bf16', BF16_REL_ERR)])
def test_the_openvino_wrapper_runs_the_ir_in_its_precision(tiny_backbone, precision, tol):
    model, names, xml, _ = tiny_backbone
    x = torch.randn(1, 3, 70, 90, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected = [o.numpy() for o in model(x)]
    got = OpenVINOCoreWrapper(xml, names, precision)({'input': x})
    for name, ref in zip(names, expected):
        assert relative_error(got[name].numpy(), ref) <= tol, (precision, name)


def test_mmdeploy_builds_the_openvino_backend_of_the_current_api(tiny_backbone, tmp_path):
    from mmdeploy.backend.base import get_backend_manager
    from mmengine.config import Config

    import litv2_mm.deployment.rewriters  # noqa: F401  (what every deploy config imports)
    _, names, xml, _ = tiny_backbone
    manager = get_backend_manager('openvino')
    cfg = Config(dict(backend_config=dict(type='openvino', precision='bf16')))
    bf16_units = 'BF16' in ov.Core().get_property('CPU', 'OPTIMIZATION_CAPABILITIES')
    hint = manager.build_wrapper([xml], 'cpu', None, names, cfg).compiled.get_property(
        'INFERENCE_PRECISION_HINT')
    assert hint == (ov.Type.bf16 if bf16_units else ov.Type.f32)  # OpenVINO: f32 without
    converted = manager.to_backend([xml.replace('.xml', '.onnx')], str(tmp_path), Config(dict(
        backend_config=dict(type='openvino',
                            model_inputs=[dict(opt_shapes=dict(input=[1, 3, 64, 96]))]))))
    assert converted == [str(tmp_path / 'litv2.xml')]
    assert list(ov.Core().read_model(converted[0]).inputs[0].get_partial_shape().to_shape()) == [
        1, 3, 64, 96]  # the deploy config's shape, as mmdeploy's Model Optimizer call gave
    with pytest.raises(ValueError, match='not quantized'):
        manager.build_wrapper([xml], 'cpu', None, names, Config(dict(
            backend_config=dict(type='openvino', precision='int8'))))
    with pytest.raises(ValueError, match='backend_config.precision'):
        backend.backend_precision(
            Config(dict(backend_config=dict(type='openvino', precision='fp16'))))
    with pytest.raises(ValueError, match='runs on the CPU'):
        manager.build_wrapper([xml], 'cuda:0', None, names, cfg)


def test_calibration_images_come_from_the_training_split(repo_root, coco_root):
    from mmdeploy.utils import load_config

    from litv2_mm.deployment.end2end import deployed_data_preprocessor
    model_cfg = load_tool_config(osp.join(repo_root, 'configs/mask_rcnn/litv2_s_1x_synthetic.py'),
                                 data_root=str(coco_root))
    deploy_cfg, = load_config(osp.join(repo_root,
                                       'configs/deploy/instance-seg_openvino-int8_dynamic.py'))
    preprocess = deployed_data_preprocessor(deploy_cfg, model_cfg)
    inputs = calibration_inputs(model_cfg, preprocess, 3)
    assert len(inputs) == 3
    assert all(x.dtype == np.float32 and x.shape[:2] == (1, 3) for x in inputs)
    # the test pipeline's size (192 x 192), unpadded (the dynamic two-stage graph pads itself),
    # normalised as the model's data preprocessor does
    assert inputs[0].shape == (1, 3, 192, 192)
    assert abs(float(inputs[0].mean())) < 3
    with pytest.raises(ValueError, match='>= 1'):
        calibration_inputs(model_cfg, preprocess, 0)
    with pytest.raises(ValueError, match='no nonexistent_dataloader'):
        calibration_inputs(model_cfg, preprocess, 1, split='nonexistent')



def test_deploy_tool_checks_its_calibration_flags(load_tool, repo_root, capsys):
    tool = load_tool('deployment/deploy')
    cfgs = [osp.join(repo_root, 'configs/deploy/detection_openvino-int8_dynamic.py'),
            osp.join(repo_root, 'configs/retinanet/litv2_s_1x_synthetic.py'), 'model.pth']
    args = tool.parse_args(cfgs)
    assert (args.calib_images, args.calib_split, args.tol) == (128, 'train', None)
    for flags, message in ((['--calib-images', '0'], '--calib-images must be >= 1'),
                           (['--calib-split', 'holdout'], 'invalid choice'),
                           (['--tol', '-1'], '--tol must be >= 0')):
        with pytest.raises(SystemExit) as exit:
            tool.parse_args(cfgs + flags)
        assert exit.value.code == 2
        assert message in capsys.readouterr().err
