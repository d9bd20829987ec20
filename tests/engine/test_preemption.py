"""PreemptionHook: a stop signal ends the run after the iteration in flight with a checkpoint
of that iteration and exit status 75; ``--resume`` continues it to the uninterrupted run's
weights, for an iteration-based and an epoch-based run stopped in the middle of an epoch.
Also the truncated-checkpoint check and the resume decision of requeued / restarted jobs."""
import signal

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import find_latest_checkpoint
from toy_training import FINITE, assert_same_runs, loads, run

from litv2_mm.checkpoint import resume_latest
from litv2_mm.engine import PREEMPTED_EXIT_STATUS, PreemptionHook


def stopped_run(work_dir, log, at_iter, signum=signal.SIGTERM, **kwargs):
    """Train with a signal sent at ``at_iter``: returns the SystemExit's code."""
    before = signal.getsignal(signum)
    with pytest.raises(SystemExit) as stop:
        run(work_dir, log, hooks=[dict(type='SignalAtIterHook', at_iter=at_iter,
                                       signum=int(signum))], **kwargs)
    assert signal.getsignal(signum) is before  # the handler is restored
    return stop.value.code


@pytest.mark.parametrize('signum', [signal.SIGTERM, signal.SIGUSR1])
def test_iteration_based_run_stops_after_the_iteration_and_resumes_exactly(tmp_path, signum):
    full = run(tmp_path / 'full', tmp_path / 'full.log', max_iters=6)
    part = tmp_path / 'part'
    code = stopped_run(part, tmp_path / 'part.log', 4, signum, max_iters=6)
    assert code == PREEMPTED_EXIT_STATUS == 75
    assert find_latest_checkpoint(str(part)) == str(part / 'iter_4.pth')  # not the periodic iter_3
    assert torch.load(part / 'iter_4.pth', weights_only=True)['meta']['iter'] == 4
    assert loads(tmp_path / 'part.log') == full.model.seen[:8]  # iteration 5 never loaded
    resumed = run(part, tmp_path / 'resumed.log', max_iters=6, resume=True)
    assert resumed.model.seen == full.model.seen[8:]
    assert_same_runs(full, resumed)


def test_epoch_based_run_stopped_mid_epoch_resumes_exactly(tmp_path):
    """3 batches an epoch, 3 epochs, epoch checkpoints only; SIGTERM in iteration 5 (epoch 2,
    batch 2): a checkpoint of iteration 5, and the resumed run trains batch 3 of epoch 2 and
    epoch 3 only, ending with the uninterrupted run's weights."""
    kwargs = dict(sampler=FINITE, max_epochs=3, size=6)
    full = run(tmp_path / 'full', tmp_path / 'full.log', **kwargs)
    part = tmp_path / 'part'
    assert stopped_run(part, tmp_path / 'part.log', 5, **kwargs) == 75
    meta = torch.load(part / 'iter_5.pth', weights_only=True)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 5)  # in epoch 2 (0-based 1), after iteration 5
    resumed = run(part, tmp_path / 'resumed.log', resume=True, **kwargs)
    assert resumed.model.seen == full.model.seen[10:]
    assert loads(tmp_path / 'resumed.log') == full.model.seen[10:]
    assert_same_runs(full, resumed)
    assert sorted(p.name for p in part.glob('*.pth')) == [
        'epoch_1.pth', 'epoch_2.pth', 'epoch_3.pth', 'iter_5.pth']


def test_a_signal_at_a_periodic_checkpoint_writes_it_once(tmp_path, monkeypatch):
    from mmengine.runner import Runner
    saved = []
    original = Runner.save_checkpoint
    monkeypatch.setattr(Runner, 'save_checkpoint',
                        lambda self, out_dir, filename, *a, **k: (
                            saved.append(filename), original(self, out_dir, filename, *a, **k)))
    assert stopped_run(tmp_path / 'w', tmp_path / 'log', 3, max_iters=6) == 75  # interval 3
    assert saved == ['iter_3.pth']
    assert find_latest_checkpoint(str(tmp_path / 'w')) == str(tmp_path / 'w' / 'iter_3.pth')


def test_hook_arguments_are_checked():
    with pytest.raises(ValueError, match='unknown signal names'):
        PreemptionHook(signals=['SIGTREM'])
    with pytest.raises(ValueError, match='exit_status'):
        PreemptionHook(exit_status=0)


def test_resume_latest_resumes_when_there_is_a_checkpoint_else_keeps_load_from(tmp_path):
    cfg = Config(dict(work_dir=str(tmp_path), load_from='coco.pth', resume=False))
    assert resume_latest(cfg) is None
    assert (cfg.resume, cfg.load_from) == (False, 'coco.pth')  # a first start fine-tunes
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_8.pth'))
    assert resume_latest(cfg) == str(tmp_path / 'iter_8.pth')
    assert (cfg.resume, cfg.load_from) == (True, None)  # a requeued one continues


def test_an_elastic_restart_resumes_from_the_find_latest_checkpoint(tmp_path, monkeypatch):
    """LITv2Runner.from_cfg under TORCHELASTIC_RESTART_COUNT > 0 (torchrun restarted the
    workers after one died): resume from the latest checkpoint of the work dir."""
    from litv2_mm.engine import LITv2Runner
    seen = {}
    monkeypatch.setattr('mmengine.runner.Runner.from_cfg',
                        classmethod(lambda cls, cfg: seen.update(cfg=cfg)))
    cfg = Config(dict(work_dir=str(tmp_path), load_from=None, resume=False, launcher='none'))
    LITv2Runner.from_cfg(cfg)
    assert seen['cfg'].resume is False  # a first start
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_2.pth'))
    monkeypatch.setenv('TORCHELASTIC_RESTART_COUNT', '1')
    LITv2Runner.from_cfg(cfg)
    assert seen['cfg'].resume is True and seen['cfg'].load_from is None
