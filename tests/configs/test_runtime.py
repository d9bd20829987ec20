"""Every config declares its whole run (configs/_base_/litv2_runtime.py): the runner, the
hooks, the checkpoint backend and a resumable loop (iteration- or epoch-based); so the
libraries' own tools run it as ours do."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from helpers import REPO_ROOT as REPO

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))
                 if '/_base_/' not in p and '/configs/deploy/' not in p)  # model configs


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_declares_the_whole_run(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['litv2_mm']
    assert cfg.runner_type == 'LITv2Runner'
    assert [h['type'] for h in cfg.custom_hooks] == [
        'ExactResumeHook', 'CheckpointFitHook', 'FiniteLossHook', 'PreemptionHook']
    assert cfg.custom_hooks[1]['allow_partial'] is False
    assert cfg.custom_hooks[2]['on_nonfinite'] == 'error'
    assert 'allow_partial_load' not in cfg and 'nonfinite_loss' not in cfg
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
    # mmengine's EpochBasedTrainLoop would train the first part of a preempted epoch twice
    assert cfg.train_cfg.get('type') in ('ResumableEpochBasedTrainLoop',
                                         'ResumableIterBasedTrainLoop'), cfg.train_cfg


def test_runtime_pieces_are_registered_by_the_import():
    from mmengine.fileio.backends import backends
    from mmengine.registry import HOOKS, LOOPS, RUNNERS

    import litv2_mm  # noqa: F401
    assert RUNNERS.get('LITv2Runner') and LOOPS.get('ResumableIterBasedTrainLoop')
    assert LOOPS.get('ResumableEpochBasedTrainLoop')
    assert HOOKS.get('ExactResumeHook') and HOOKS.get('CheckpointFitHook')
    assert HOOKS.get('FiniteLossHook') and HOOKS.get('PreemptionHook')
    assert 'atomic_local' in backends


def test_a_base_beside_the_librarys_config_cannot_set_the_loop(tmp_path):
    """Why each config family's root sets train_cfg and the checkpoint backend itself (the
    runtime base says so): mmengine refuses a key that two bases of one config set."""
    (tmp_path / 'loop.py').write_text("train_cfg = dict(type='ResumableEpochBasedTrainLoop')\n")
    (tmp_path / 'leaf.py').write_text(
        "_base_ = ['mmdet::retinanet/retinanet_r50_fpn_1x_coco.py', './loop.py']\n")
    with pytest.raises(KeyError, match='Duplicate key is not allowed among bases'):
        Config.fromfile(str(tmp_path / 'leaf.py'))


def test_deprecated_top_level_keys_move_to_their_hooks():
    """Configs of earlier versions set the hooks' options as top-level keys: they still work,
    with a deprecation warning naming the new form."""
    from litv2_mm.engine.runner import move_deprecated_keys
    cfg = Config.fromfile(osp.join(REPO, 'configs', 'sem_fpn', 'litv2_s_synthetic.py'))
    cfg.allow_partial_load, cfg.nonfinite_loss = True, 'warn'
    with pytest.warns(DeprecationWarning, match=r"nonfinite_loss is deprecated: set it on the "
                                                r"hook, .*dict\(type='FiniteLossHook', "
                                                r"on_nonfinite='warn'\)"):
        assert move_deprecated_keys(cfg) == ['allow_partial_load', 'nonfinite_loss']
    assert cfg.custom_hooks[1] == dict(type='CheckpointFitHook', allow_partial=True)
    assert cfg.custom_hooks[2] == dict(type='FiniteLossHook', on_nonfinite='warn')
    assert 'allow_partial_load' not in cfg and 'nonfinite_loss' not in cfg


def test_set_hook_args_names_a_missing_hook():
    from litv2_mm.config import set_hook_args
    cfg = Config(dict(custom_hooks=[dict(type='ExactResumeHook')]))
    with pytest.raises(KeyError, match=r"no CheckpointFitHook in custom_hooks \(declared: "
                                       r"\['ExactResumeHook'\]\)"):
        set_hook_args(cfg, 'CheckpointFitHook', allow_partial=True)


def test_the_readme_snippet_is_a_config_that_declares_the_whole_run(tmp_path):
    """The README's "Using it in your own configs" snippet, with the path to this checkout:
    the runner, hooks, resumable loop and atomic backend of our own configs."""
    readme = open(osp.join(REPO, 'README.md')).read()
    section = readme.split('## Using it in your own configs', 1)[1]
    snippet = section.split('```python\n', 1)[1].split('```', 1)[0]
    (tmp_path / 'mine.py').write_text(snippet.replace('path/to/litv2-mm', str(REPO)))
    cfg = Config.fromfile(str(tmp_path / 'mine.py'))
    assert cfg.runner_type == 'LITv2Runner' and cfg.model.backbone.type == 'LITv2'
    assert [h['type'] for h in cfg.custom_hooks] == [
        'ExactResumeHook', 'CheckpointFitHook', 'FiniteLossHook', 'PreemptionHook']
    assert cfg.train_cfg.type == 'ResumableEpochBasedTrainLoop'
    assert cfg.train_cfg.max_epochs == 12  # the rest of mmdet's schedule kept
    assert cfg.default_hooks.checkpoint.backend_args == dict(backend='atomic_local')
