"""The whole-model rows of the speed table (litv2_mm.analysis.deployed_speed): one model,
every runtime and precision, one timed run, through tools/analysis/speed_table.py in its own
process (slow: the full-size Semantic FPN is exported, converted and quantized twice; its own
process, as OpenVINO's thread pool must not be in a process that later forks data workers)."""
import os.path as osp

import pytest

from litv2_mm.analysis.deployed_speed import RUNTIME_ROWS, WHOLE_MODELS, whole_model_rows
from litv2_mm.analysis.speed_table import read_csv

pytest.importorskip('mmdeploy')
pytest.importorskip('openvino')
pytest.importorskip('nncf')
onnx = pytest.importorskip('onnx')


def test_every_whole_model_config_exists(repo_root):
    for name, spec in WHOLE_MODELS.items():
        assert osp.isfile(osp.join(repo_root, spec.config)), name
        assert osp.isfile(osp.join(repo_root, spec.deploy_config)), name


def test_unknown_models_are_named():
    with pytest.raises(ValueError, match=r"\['yolo'\]"):
        whole_model_rows(['yolo'], runs=1, warmup=0, work_dir='unused')


@pytest.mark.slow
def test_semantic_fpn_rows_in_every_runtime_and_precision(tmp_path, run_tool):
    out = tmp_path / 'speed.csv'
    run_tool('analysis/speed_table.py', '--parts', 'whole', '--models', 'sem_fpn', '--runs', '1',
             '--warmup', '0', '--work-dir', tmp_path, '--out', out, timeout=1200)
    rows = read_csv(str(out))
    assert [(r.runtime, r.precision) for r in rows] == list(RUNTIME_ROWS)
    for row in rows:
        assert row.model == 'sem_fpn_litv2_s' and row.task == 'segmentation'
        assert row.input_size == '512x512' and row.batch == 1
        assert row.latency_ms > 0 and abs(row.img_per_s * row.latency_ms - 1e3) < 1  # 4 digits
        assert row.mode == ('eager' if row.runtime == 'pytorch' else 'graph')
        assert row.cpu and row.date
        assert ('torch' if row.runtime == 'pytorch' else row.runtime) in row.versions
    assert osp.isfile(str(out).replace('.csv', '.png'))
    work = tmp_path / 'sem_fpn'
    ort_int8 = onnx.load(str(work / 'end2end_ort_int8.onnx'), load_external_data=False)
    assert any(n.op_type == 'QuantizeLinear' for n in ort_int8.graph.node)
    assert 'FakeQuantize' in (work / 'end2end_int8.xml').read_text()
