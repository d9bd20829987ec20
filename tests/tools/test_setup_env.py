"""tools/check_mmcv_ops.py, the check that tools/setup_env.sh runs on mmcv's compiled ops: it
asks for a rebuild with CUDA exactly where torch sees a GPU and mmcv has no CUDA ops, runs the
ops on CUDA against the CPU where a GPU is visible, and names an op that fails. A GPU and a
CUDA build of mmcv are faked (``torch.cuda.is_available``, the compiling CUDA version, and
the CUDA results: the CPU's)."""
import importlib.util
import os.path as osp

import mmcv.ops
import pytest
import torch

from helpers import REPO_ROOT

spec = importlib.util.spec_from_file_location(
    'check_mmcv_ops', osp.join(REPO_ROOT, 'tools', 'check_mmcv_ops.py'))
check = importlib.util.module_from_spec(spec)
spec.loader.exec_module(check)


@pytest.mark.parametrize('gpu,version,rebuild', [
    (True, 'not available', True), (False, 'not available', False), (True, '12.1', False),
    (False, '12.1', False)])
def test_needs_cuda_rebuild(gpu, version, rebuild):
    assert check.needs_cuda_rebuild(gpu, version) is rebuild


def fake_machine(monkeypatch, gpu, version, cuda_results=None):
    """torch sees a GPU or not, mmcv reports ``version``; returns the devices the ops run on.
    On 'cuda' the ops run on the CPU, their results changed by ``cuda_results``."""
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: gpu)
    monkeypatch.setattr(mmcv.ops, 'get_compiling_cuda_version', lambda: version)
    devices, real = [], check.op_results

    def op_results(device):
        devices.append(device)
        results = real('cpu')
        return (cuda_results or (lambda r: r))(results) if device == 'cuda' else results
    monkeypatch.setattr(check, 'op_results', op_results)
    return devices


@pytest.mark.parametrize('gpu,version,word,devices', [
    (True, 'not available', 'rebuild', []),  # GPU node, mmcv built without CUDA
    (False, 'not available', 'mmcv_cuda=no', ['cpu']),  # CPU-only machine: as before
    (True, '12.1', 'mmcv_cuda=yes', ['cpu', 'cuda']),  # GPU node, CUDA mmcv: CUDA vs CPU
    (False, '12.1', 'mmcv_cuda=yes', ['cpu'])])  # CUDA mmcv on a login node
def test_status_word_and_devices(monkeypatch, capsys, gpu, version, word, devices):
    ran = fake_machine(monkeypatch, gpu, version)
    assert check.main() == 0
    out, err = capsys.readouterr()
    assert out.split() == [word] and ran == devices
    assert f'CUDA ops: {"yes" if version != "not available" else "no"}' in err


def test_op_that_differs_on_cuda_fails_named(monkeypatch, capsys):
    def shift_roi_align(results):
        return {**results, 'roi_align': results['roi_align'] + 0.01}
    fake_machine(monkeypatch, True, '12.1', shift_roi_align)
    assert check.main() == 1
    out, err = capsys.readouterr()
    assert out == '' and 'mmcv op roi_align on CUDA differs from the CPU' in err


def test_op_that_raises_is_named(monkeypatch, capsys):
    def broken(*args, **kwargs):
        raise RuntimeError('roi_align_forward_impl: implementation for device cuda:0 not found')
    monkeypatch.setattr(mmcv.ops, 'roi_align', broken)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    assert check.main() == 1
    out, err = capsys.readouterr()
    assert out == '' and 'mmcv op roi_align fails on cpu: RuntimeError' in err


def test_cpu_ops_agree_with_torchvision():
    """The real ops of this environment on the CPU against torchvision's, and nms keeps the
    box that overlaps no other."""
    results = check.op_results('cpu')
    assert results['nms'].tolist() == [0, 2]
    check.compare(results, check.torchvision_results(), 'differs')
    with pytest.raises(check.OpFailure, match='mmcv op deform_conv2d differs'):
        check.compare({**results, 'deform_conv2d': results['deform_conv2d'] * 1.01},
                      check.torchvision_results(), 'differs')
