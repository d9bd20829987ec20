"""model-index.yml and the metafiles list every config; README's model zoo is up to date."""
import importlib.util
import os.path as osp
import shutil

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_tool():
    spec = importlib.util.spec_from_file_location('gen_model_zoo',
                                                  osp.join(REPO, 'tools', 'gen_model_zoo.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def tool():
    return load_tool()


@pytest.fixture
def repo_copy(tmp_path):
    """model-index.yml, README.md and configs/ (configs and metafiles) in a scratch repo."""
    shutil.copy(osp.join(REPO, 'model-index.yml'), tmp_path)
    shutil.copy(osp.join(REPO, 'README.md'), tmp_path)
    shutil.copytree(osp.join(REPO, 'configs'), tmp_path / 'configs',
                    ignore=shutil.ignore_patterns('__pycache__'))
    return tmp_path


def test_every_config_is_listed_and_every_listed_config_exists(tool):
    assert tool.index_problems(REPO) == []
    _, models = tool.load_model_index(REPO)
    listed = {m['Config'] for m in models}
    assert set(tool.config_files(REPO)) == listed
    assert 'configs/mask_rcnn/litv2_s_1x_synthetic.py' in listed
    assert not any(c.startswith('configs/_base_/') for c in listed)


def test_entries_carry_the_published_results(tool):
    _, models = tool.load_model_index(REPO)
    by_name = {m['Name']: m for m in models}
    for m in models:
        assert {'Name', 'In Collection', 'Config', 'Metadata'} <= set(m)
        assert 'Training Data' in m['Metadata']
        for result in m.get('Results', []):
            assert {'Task', 'Dataset', 'Metrics'} <= set(result)
        if m['Config'].endswith('_synthetic.py'):
            assert 'Results' not in m and 'Weights' not in m
    assert by_name['retinanet_litv2_s_1x']['Results'][0]['Metrics'] == {'box AP': 44.0}
    assert [r['Metrics'] for r in by_name['mask-rcnn_litv2_b_ws4_1x']['Results']] == [
        {'box AP': 46.8}, {'mask AP': 42.3}]
    assert by_name['sem-fpn_litv2_m_512x512_80k_ade20k']['Results'][0]['Metrics'] == {'mIoU': 45.7}
    assert by_name['litv2_b_8xb128_in1k']['Results'][0]['Metrics'] == {'Top 1 Accuracy': 83.6}
    assert by_name['litv2_s_8xb128_in1k']['Weights'].endswith('/v1.0/litv2_s.pth')
    assert 'Results' not in by_name['upernet_litv2_s_512x512_160k_ade20k']  # none in the paper


def test_unlisted_and_missing_configs_are_reported(tool, repo_copy):
    new_config = repo_copy / 'configs' / 'retinanet' / 'litv2_x_new.py'
    new_config.write_text("_base_ = './litv2_s_1x.py'\n")
    (repo_copy / 'configs' / 'upernet' / 'litv2_b_512x512_160k_ade20k.py').unlink()
    problems = tool.index_problems(repo_copy)
    assert problems == ['configs/retinanet/litv2_x_new.py: config not listed in any metafile',
                        'upernet_litv2_b_512x512_160k_ade20k: config '
                        'configs/upernet/litv2_b_512x512_160k_ade20k.py does not exist']
    assert tool.main(['--check', '--repo', str(repo_copy)]) == 1


def test_readme_model_zoo_is_up_to_date(tool, capsys):
    assert tool.main(['--check']) == 0, capsys.readouterr().err


def test_check_detects_a_stale_readme_and_writing_fixes_it(tool, repo_copy):
    readme = repo_copy / 'README.md'
    start = tool.START
    readme.write_text(readme.read_text().replace(start, start + '\nstale line'))
    assert tool.main(['--check', '--repo', str(repo_copy)]) == 1
    assert tool.main(['--repo', str(repo_copy)]) == 0
    assert 'stale line' not in readme.read_text()
    assert tool.main(['--check', '--repo', str(repo_copy)]) == 0


def test_missing_markers_fail_with_a_clear_message(tool, repo_copy, capsys):
    readme = repo_copy / 'README.md'
    readme.write_text(readme.read_text().replace(tool.END, ''))
    assert tool.main(['--repo', str(repo_copy)]) == 1
    assert tool.END in capsys.readouterr().err
