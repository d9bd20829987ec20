"""ONNX export (dynamic batch and image size) of a tiny LITv2, backbone + FPN and a classifier,
checked against onnxruntime."""
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from litv2_mm.apis import init_model
from litv2_mm.deployment import ClassifierLogits, compare_with_onnxruntime, export_onnx

from helpers import TINY

pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

# (B, 3, H, W): the graphs are traced at 64 x 64, which pads nothing; 90 x 70 pads the stem
# (90 % 4) and HiLo's stage-3 map (23 x 18 tokens -> 5 x 4 in stage 3, window 2), with another
# batch size than the trace.
SHAPES = [(2, 3, 64, 64), (1, 3, 90, 70)]
TOL = 1e-4


def tiny_config(tmp_path, base, **model):
    """A config file inheriting ``base`` (a repo config) with a tiny LITv2 backbone."""
    path = tmp_path / f'tiny_{osp.basename(base)}'
    path.write_text(f'_base_ = {base!r}\nmodel = {model!r}\n')
    return str(path)


def tiny_arch():
    return dict(_delete_=True, **TINY)


def check(model, tmp_path, output_names):
    """Export ``model``, compare with onnxruntime at SHAPES; the output names."""
    path = tmp_path / 'model.onnx'
    names = export_onnx(model, path, output_names, input_size=(64, 64))
    results = compare_with_onnxruntime(model, path, SHAPES)
    assert [shape for shape, _ in results] == SHAPES
    for shape, diff in results:
        assert diff < TOL, f'{shape}: max diff {diff}'
    return names


def test_build_backbone_loads_a_checkpoint_of_our_runs(tmp_path):
    torch.manual_seed(1)
    trained = init_model(dict(type='LITv2', arch=TINY))
    path = tmp_path / 'run.pth'
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in trained.state_dict().items()}}, path)
    loaded = init_model(dict(type='LITv2', arch=TINY), checkpoint=path)
    for key, value in trained.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[key], value)


def test_backbone_exports_with_dynamic_batch_and_size(tmp_path):
    torch.manual_seed(0)
    model = init_model(dict(type='LITv2', arch=TINY))
    names = ['out0', 'out1', 'out2', 'out3']
    assert check(model, tmp_path, names) == names


def test_classifier_exports_logits(repo_root, tmp_path):
    cfg = Config.fromfile(tiny_config(
        tmp_path, osp.join(repo_root, 'configs/classification/litv2_s_8xb128_in1k.py'),
        backbone=dict(arch=tiny_arch()), head=dict(in_channels=128, num_classes=10)))
    torch.manual_seed(0)
    classifier = init_model(cfg)
    model = ClassifierLogits(classifier).eval()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    assert check(model, tmp_path, 'logits') == ['logits']


def test_tool_exports_backbone_and_fpn_of_a_detector(repo_root, tmp_path, capsys, load_tool):
    config = tiny_config(tmp_path, osp.join(repo_root, 'configs/retinanet/litv2_s_1x_synthetic.py'),
                         backbone=dict(arch=tiny_arch()), neck=dict(in_channels=[16, 32, 64, 128]))
    out = tmp_path / 'det.onnx'
    argv = [config, '--neck', '--out', str(out), '--shapes', '64x64', '90x70']
    assert load_tool('deployment/export_onnx').main(argv) == 0
    printed = capsys.readouterr().out
    assert 'fpn0, fpn1, fpn2, fpn3, fpn4' in printed  # RetinaNet's FPN: 5 levels
    assert printed.count('max |PyTorch - onnxruntime|') == 2 and 'OK' in printed
    assert out.is_file()


def test_tool_fails_above_tolerance(tmp_path, monkeypatch, capsys, load_tool):
    tool = load_tool('deployment/export_onnx')
    monkeypatch.setattr(tool, 'build', lambda args: (torch.nn.Identity(), 'out', 'identity'))
    monkeypatch.setattr(tool, 'compare_with_onnxruntime', lambda *a, **k: [((2, 3, 64, 64), 1e-3)])
    assert tool.main(['--arch', 'small', '--out', str(tmp_path / 'x.onnx')]) == 1
    assert 'FAILED' in capsys.readouterr().err


def test_tool_argument_errors(load_tool):
    tool = load_tool('deployment/export_onnx')
    for argv in ([], ['cfg.py', '--arch', 'small'], ['--arch', 'small', '--neck'],
                 ['--arch', 'small', '--shapes', '224'], ['--arch', 'small', '--opset', '13']):
        with pytest.raises(SystemExit):
            tool.parse_args(argv)
