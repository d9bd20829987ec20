"""Every config declares its whole run (configs/_base_/litv2_runtime.py): the runner, the
hooks, the checkpoint backend and a resumable loop (iteration- or epoch-based); so the
libraries' own tools run it as ours do."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIGS = sorted(p for p in glob.glob(osp.join(REPO, 'configs', '*', '*.py'))
                 if '/_base_/' not in p and '/configs/deploy/' not in p)  # model configs


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO))
def test_config_declares_the_whole_run(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports['imports'] == ['litv2_mm']
    assert cfg.runner_type == 'LITv2Runner'
    assert [h['type'] for h in cfg.custom_hooks] == [
        'ExactResumeHook', 'CheckpointFitHook', 'FiniteLossHook', 'PreemptionHook']
    assert cfg.allow_partial_load is False
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
