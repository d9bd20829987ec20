"""The GPU acceptance kit (tools/gpu_check.sh, litv2_mm/analysis/gpu_check.py): its CPU run
(``bash tools/gpu_check.sh --cpu``, the same checks with tiny sizes) reports every check, each
passed or skipped where it needs CUDA, with finite figures; the pieces a GPU run relies on and
a CPU run cannot show (goals, ratios, the reference without mmcv's compiled ops, the report's
wording, the detector summary, the refusal without a GPU) are checked on their own."""
import json
import math
import os

import pytest
import torch

from litv2_mm.analysis import gpu_check as kit
from litv2_mm.models import LITv2
from litv2_mm.reference import reference_litv2

from helpers import TINY, run_process

NEEDS_CUDA = 'skipped: needs CUDA'


def cpu_skip_ok(entry):
    """A CPU run may skip what needs CUDA, and bf16 on a CPU without bf16 kernels."""
    return entry['status'] == 'skipped' and (
        entry['reason'].startswith(NEEDS_CUDA) or 'no oneDNN bf16 kernels' in entry['reason'])


@pytest.fixture(scope='module')
def cpu_run(tmp_path_factory, repo_root):
    out = tmp_path_factory.mktemp('gpu_check')
    proc = run_process(['bash', os.path.join(repo_root, 'tools', 'gpu_check.sh'), '--cpu',
                        '--out', str(out)], cwd=repo_root, timeout=600)
    return proc, out


@pytest.mark.slow  # the kit's whole CPU run (40 s)
def test_the_cpu_run_passes_and_writes_its_report(cpu_run):
    proc, out = cpu_run
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert '[gpu_check] finished in' in proc.stdout
    report = json.loads((out / 'report.json').read_text())
    assert report['failed'] == 0
    assert (out / 'gpu_check.log').read_text().strip().endswith(f'report in {out}')
    markdown = (out / 'report.md').read_text()
    assert '| accuracy | litv2_tiny 96x96 b2 cuda vs cpu fp32 | skipped: needs CUDA |' in markdown
    assert 'skipped: skipped' not in markdown


@pytest.mark.slow  # the kit's whole CPU run (40 s)
def test_the_cpu_run_reports_every_check(cpu_run):
    report = json.loads((cpu_run[1] / 'report.json').read_text())
    checks = {(c['section'], c['name']): c for c in report['checks']}
    expected = [('training', name) for name in (
        'SIGTERM to the process group in iteration 3 (2 workers)',
        'resume restores the random states exactly', 'deterministic=True runs',
        'deterministic=True: two runs bitwise equal')]
    for size in ('96x96 b2', '96x160 b1'):
        expected += [('accuracy', f'litv2_tiny {size} {what}') for what in (
            'cuda vs cpu fp32', 'autocast fp16 vs fp32', 'autocast bf16 vs fp32')]
    assert sorted(checks) == sorted(expected)
    for key, check in checks.items():
        assert check['status'] == 'passed' or cpu_skip_ok(check), (key, check)
        for value in check['values'].values():
            for v in value if isinstance(value, list) else [value]:
                assert not isinstance(v, float) or math.isfinite(v), (key, check)
    for size in ('96x96 b2', '96x160 b1'):
        assert checks['accuracy', f'litv2_tiny {size} cuda vs cpu fp32']['reason'] == NEEDS_CUDA
        fp16 = checks['accuracy', f'litv2_tiny {size} autocast fp16 vs fp32']
        assert fp16['status'] == 'passed' and max(fp16['values']['stages']) <= 0.005
    assert checks['training', 'resume restores the random states exactly']['values'] == dict(
        iterations=kit.TRAIN_ITERS, weights_bitwise=True, weights_max_relative=0.)
    assert checks['training', 'SIGTERM to the process group in iteration 3 (2 workers)'][
        'values']['exit_status'] == 75


@pytest.mark.slow  # the kit's whole CPU run (40 s)
def test_the_cpu_run_times_every_model_and_precision(cpu_run):
    report = json.loads((cpu_run[1] / 'report.json').read_text())
    rows = {(r['model'], r['precision'], r['mode']): r for r in report['throughput']}
    models = ['litv2_tiny', 'litv2_tiny:reference', 'swin_tiny']
    expected = [(m, p, 'eager') for m in models for p in kit.PRECISIONS]
    expected.append(('litv2_tiny', 'fp32', 'compiled (eager)'))
    assert sorted(rows) == sorted(expected)
    for key, row in rows.items():
        if row['precision'] in ('tf32', 'fp16'):
            assert row['status'] == 'skipped' and row['reason'].startswith(NEEDS_CUDA), key
            continue
        assert row['status'] == 'passed' or cpu_skip_ok(row), (key, row)
        if row['status'] == 'passed':
            timed = ['infer_img_s', 'infer_ms'] + (['train_img_s', 'train_ms']
                                                   if row['mode'] == 'eager' else [])
            assert all(math.isfinite(row[k]) and row[k] > 0 for k in timed), (key, row)
            assert row['test_memory'] is None and row['train_memory'] is None  # needs CUDA
    fp32 = rows['litv2_tiny', 'fp32', 'eager']
    assert fp32['vs_swin'] == pytest.approx(
        fp32['infer_img_s'] / rows['swin_tiny', 'fp32', 'eager']['infer_img_s'])
    assert [g['measured'] for g in report['goals']] == [NEEDS_CUDA] * 2


def fake_row(model, precision, mode, img_s):
    return dict(kit.new_row(model, precision, mode), infer_img_s=img_s)


def test_goals_take_the_fastest_bf16_row_and_swin_t_in_its_mode():
    profile = kit.PROFILES['cuda']
    rows = [fake_row('litv2_s', 'bf16', 'eager', 5000.), fake_row('swin_t', 'bf16', 'eager', 4000.),
            fake_row('litv2_s', 'bf16', 'compiled', 6600.),
            fake_row('swin_t', 'bf16', 'compiled', 4000.),
            fake_row('litv2_s:reference', 'bf16', 'eager', 2500.)]
    kit.add_ratios(rows, 'litv2_s', 'swin_t')
    assert rows[0]['vs_swin'] == 1.25 and rows[0]['vs_reference'] == 2.
    assert rows[1]['vs_reference'] is None
    speed, vs_swin = kit.goals(rows, profile)
    assert speed['met'] and '6600 img/s (compiled)' in speed['measured']
    assert vs_swin['met'] and vs_swin['measured'] == '1.65x (compiled)'
    rows[3]['infer_img_s'] = 4500.
    kit.add_ratios(rows, 'litv2_s', 'swin_t')
    assert kit.goals(rows, profile)[1]['met'] is False


def test_the_reference_without_mmcv_ops_uses_torchvision_s_deform_conv():
    """mmcv-lite (what the kit carries to the GPU machine) has no compiled ops: the reference's
    DTM then runs torchvision's deform_conv2d, the same op, also under bf16 autocast (mmcv's
    CPU kernel has no bf16)."""
    torch.manual_seed(0)
    model = LITv2(arch=TINY, drop_path_rate=0.).eval()
    for m in model.modules():
        if hasattr(m, 'conv_offset'):
            torch.nn.init.normal_(m.conv_offset.weight, std=0.05)
    x = torch.randn(2, 3, 64, 48)
    with torch.no_grad():
        expected = reference_litv2(model)(x)
        auto, op = kit.reference_of(model, 'cpu')
        assert op == 'mmcv.ops.deform_conv2d'
        tv, op = kit.reference_of(model, 'cpu', op='torchvision')
        assert op == 'torchvision.ops.deform_conv2d'
        for a, b, e in zip(auto(x), tv(x), expected):
            torch.testing.assert_close(a, e, rtol=0, atol=0)
            torch.testing.assert_close(b, e, rtol=1e-5, atol=1e-5)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert all(torch.isfinite(o).all() for o in auto(x))


def test_tf32_switches_both_flags_and_restores_them():
    matmul, conv = torch.backends.cuda.matmul, torch.backends.cudnn.conv
    before = matmul.fp32_precision, conv.fp32_precision
    with kit.tf32(True):
        assert (matmul.fp32_precision, conv.fp32_precision) == ('tf32', 'tf32')
        with kit.tf32(False):
            assert (matmul.fp32_precision, conv.fp32_precision) == ('ieee', 'ieee')
    assert (matmul.fp32_precision, conv.fp32_precision) == before


def test_first_difference_names_the_iteration_and_what_differs():
    run = [dict(iter=i, indices=[i, i + 1], rng=dict(torch=f't{i}', cuda=f'c{i}'), loss=1.)
           for i in (1, 2, 3)]
    assert kit.first_difference(run, json.loads(json.dumps(run))) == ''
    other = json.loads(json.dumps(run))
    other[1]['rng']['cuda'] = 'x'
    assert kit.first_difference(run, other) == 'iteration 2: random states of cuda differ'
    other[0]['indices'] = [7, 8]
    assert kit.first_difference(run, other) == 'iteration 1: batch [7, 8], expected [1, 2]'
    assert 'iterations [1, 2]' in kit.first_difference(run, run[:2])


def test_the_report_says_skipped_needs_cuda_once():
    row = dict(kit.new_row('m', 'tf32', 'eager'), status='skipped',
               reason=f'{NEEDS_CUDA} (TF32 is a GPU number format)')
    assert kit.status_text(row) == 'skipped: needs CUDA (TF32 is a GPU number format)'
    failed = dict(row, status='failed', reason='RuntimeError: out of memory')
    assert kit.status_text(failed) == 'failed: RuntimeError: out of memory'


def test_detector_summary_checks_losses_amp_and_both_evaluations(tmp_path):
    run = tmp_path / 'work' / '20261207_000000'
    (run / 'vis_data').mkdir(parents=True)
    lines = [dict(loss=2.5, iter=10), dict(loss=1.9, iter=20),
             {'coco/bbox_mAP': 0.01, 'coco/segm_mAP': 0.02, 'step': 20}]
    (run / 'vis_data' / 'scalars.json').write_text(''.join(json.dumps(x) + '\n' for x in lines))
    (tmp_path / 'work' / 'litv2_s_1x_synthetic.py').write_text(
        "optim_wrapper = dict(type='AmpOptimWrapper')\n")
    out = tmp_path / 'out'
    checks = kit.detector_summary(str(tmp_path / 'work'), str(out),
                                  'coco/bbox_mAP: 0.0100  coco/segm_mAP: 0.0200')
    assert [c['status'] for c in checks] == ['passed'] * 4, checks
    assert json.loads((out / 'detector_report.json').read_text())['checks'] == checks
    checks = kit.detector_summary(str(tmp_path / 'work'), str(out), 'Traceback ...')
    assert checks[-1] == dict(name='tools/test.py --amp evaluated', status='failed',
                              details='no coco/bbox_mAP in its output')


def test_without_a_gpu_the_gpu_run_stops_before_any_check(tmp_path, repo_root):
    """No carried wheels (GPU_KIT: an empty folder), so the .venv's python, whose torch sees
    no GPU: the run names it and points at --cpu."""
    env = dict(os.environ, GPU_KIT=str(tmp_path / 'no_kit'))
    proc = run_process(['bash', os.path.join(repo_root, 'tools', 'gpu_check.sh'), '--out',
                        str(tmp_path)], cwd=repo_root, env=env, timeout=120)
    assert proc.returncode == 1
    assert 'torch sees no CUDA device here: use --cpu' in proc.stdout
    assert not (tmp_path / 'report.json').exists()


def test_the_cuda_profile_fits_five_minutes_and_names_timed_models():
    profile = kit.PROFILES['cuda']
    assert profile.budget_s < 300 and (profile.batch, profile.shape) == (64, (224, 224))
    assert {spec for spec, _ in profile.compiled} <= set(kit.timed_specs(profile))
    assert kit.timed_specs(profile) == ['litv2_s', 'litv2_m', 'litv2_b', 'litv2_s:reference',
                                        'swin_t']


def test_two_deterministic_runs_are_compared_bitwise(tmp_path, monkeypatch):
    """Two deterministic runs (faked): equal weights pass, different weights fail, named."""
    weights = iter([{'w': torch.ones(2)}, {'w': torch.ones(2)},
                    {'w': torch.ones(2)}, {'w': torch.tensor([1., 1.5])}])
    monkeypatch.setattr(kit, 'train', lambda spec, device, timeout=300.: kit.Run(
        spec['work_dir'], 0, '', [dict(iter=1)], True, 1.))
    monkeypatch.setattr(kit.Run, 'weights', lambda self, i: next(weights))
    for expected in ('passed', 'failed'):
        report = kit.Report(str(tmp_path), kit.PROFILES['cpu'], {})
        kit.check_deterministic(report, {}, str(tmp_path))
        ran, pair = report.checks
        assert ran['status'] == 'passed' and pair['status'] == expected
    assert pair['reason'].startswith('weights differ')
