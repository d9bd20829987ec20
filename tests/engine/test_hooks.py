"""ExactResumeHook's random states survive the safe loader; CheckpointFitHook checks every
loaded checkpoint (the report itself: tests/checkpoint/test_reading.py) unless told to load
what fits; FiniteLossHook stops at the first non-finite loss or weight."""
import random

import numpy as np
import pytest
import torch
import torch.nn as nn

from litv2_mm.checkpoint import CheckpointMismatchError
from litv2_mm.engine import CheckpointFitHook, ExactResumeHook


def test_random_states_saved_with_a_checkpoint_are_restored_on_resume(tmp_path):
    hook = ExactResumeHook()
    torch.manual_seed(3)
    np.random.seed(3)
    random.seed(3)
    ckpt = {'state_dict': {}}
    hook.before_save_checkpoint(None, ckpt)
    expected = (torch.rand(3), np.random.rand(3), random.random())
    torch.save(ckpt, tmp_path / 'c.pth')
    loaded = torch.load(tmp_path / 'c.pth', weights_only=True)  # the safe loader reads it

    class Resuming:  # what litv2_mm.engine.mmengine_internals.runner_resumes reads
        _resume = True

    torch.manual_seed(99)
    np.random.seed(99)
    random.seed(99)
    hook.after_load_checkpoint(Resuming(), loaded)
    hook.before_train_epoch(None)
    assert torch.equal(torch.rand(3), expected[0])
    np.testing.assert_array_equal(np.random.rand(3), expected[1])
    assert random.random() == expected[2]


def test_states_are_not_restored_when_only_loading_weights():
    hook = ExactResumeHook()
    ckpt = {}
    hook.before_save_checkpoint(None, ckpt)

    class Loading:
        _resume = False

    hook.after_load_checkpoint(Loading(), ckpt)
    state = torch.get_rng_state()
    hook.before_train_epoch(None)
    assert torch.equal(torch.get_rng_state(), state)


def two_layer(width, classes):
    return nn.Sequential(nn.Linear(8, width), nn.Linear(width, classes))


class _FitRunner:
    """What CheckpointFitHook reads from a runner."""

    def __init__(self, work_dir, **cfg):
        self.model, self.cfg, self.work_dir, self.logger = two_layer(16, 5), cfg, work_dir, None


def test_checkpoint_fit_hook_fails_naming_the_file_unless_partial_loads_are_allowed(tmp_path):
    ckpt = {'state_dict': two_layer(16, 3).state_dict()}
    with pytest.raises(CheckpointMismatchError, match='checkpoint a.pth does not fit'):
        CheckpointFitHook().after_load_checkpoint(_FitRunner(tmp_path, load_from='a.pth'), ckpt)
    # resumed without a path: the latest checkpoint of the work dir is named
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'iter_4.pth'))
    with pytest.raises(CheckpointMismatchError, match='checkpoint .*iter_4.pth does not fit'):
        CheckpointFitHook().after_load_checkpoint(_FitRunner(str(tmp_path), resume=True), ckpt)
    hook = CheckpointFitHook(allow_partial=True)
    hook.after_load_checkpoint(_FitRunner(tmp_path, load_from='a.pth'), ckpt)  # warns only
    with pytest.raises(TypeError, match='allow_partial must be True or False'):
        CheckpointFitHook(allow_partial='yes')


class _Runner:
    """What FiniteLossHook reads from a runner."""

    def __init__(self, work_dir, scaler=None):
        import logging

        from mmengine.optim import OptimWrapper
        self.model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
        self.optim_wrapper = OptimWrapper(torch.optim.SGD(self.model.parameters(), lr=0.1))
        if scaler is not None:
            self.optim_wrapper.loss_scaler = scaler
        self.cfg = {}
        self.iter, self.work_dir, self.logger = 6, str(work_dir), logging.getLogger('finite-loss')


def test_finite_loss_hook_names_the_iteration_terms_and_lr(tmp_path):
    from litv2_mm.engine import FiniteLossHook
    hook, runner = FiniteLossHook(), _Runner(tmp_path)
    hook.before_train_iter(runner, 0)
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(1.0)))  # finite: nothing
    assert not (tmp_path / 'diverged').exists()
    with pytest.raises(FloatingPointError, match=r'iteration 7: non-finite loss on rank\(s\) '
                                                 r'\[0\] \(loss=nan, loss_cls=inf here\) '
                                                 r'\(learning rate: .*0\.1'):
        hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('nan')),
                                                      loss_cls=torch.tensor(float('inf')),
                                                      acc=torch.tensor(float('nan'))))
    # the marker that keeps an elastic restart from replaying the divergence
    assert (tmp_path / 'diverged').read_text().startswith('iteration 7: non-finite loss')
    with pytest.raises(ValueError, match="on_nonfinite must be one of .'error', 'warn'., "
                                         "got 'stop'"):
        FiniteLossHook(on_nonfinite='stop')


@pytest.mark.parametrize('where', ['0.weight', '0.bias', '1.running_var'])
@pytest.mark.parametrize('value', [float('nan'), float('inf'), -float('inf')])
def test_finite_loss_hook_stops_at_non_finite_weights_with_a_finite_loss(tmp_path, where, value):
    """A finite loss whose gradient was not finite leaves NaN in the weights after the step:
    the run stops at that iteration, before its checkpoint (the loss alone is one step late).
    """
    from litv2_mm.engine import FiniteLossHook
    hook, runner = FiniteLossHook(), _Runner(tmp_path)
    hook.before_train_iter(runner, 0)
    with torch.no_grad():
        runner.model.state_dict()[where].view(-1)[1] = value
    with pytest.raises(FloatingPointError, match=r'iteration 7: non-finite weights after the '
                                                 r'step on rank\(s\) \[0\] \(1 tensors here'):
        hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(0.5)))


def test_a_restart_after_a_divergence_stops_naming_it(tmp_path):
    from litv2_mm.engine import check_not_diverged
    check_not_diverged(str(tmp_path))  # no marker: nothing
    (tmp_path / 'diverged').write_text('iteration 3: non-finite loss on rank(s) [1]\n')
    with pytest.raises(FloatingPointError, match=r'not restarting: this run diverged .*'
                                                 r'iteration 3: non-finite loss on rank'):
        check_not_diverged(str(tmp_path))


def test_finite_loss_hook_lets_the_loss_scaler_skip_an_overflow(caplog, tmp_path):
    from litv2_mm.engine import FiniteLossHook
    scaler = torch.amp.GradScaler('cpu')
    scaler.scale(torch.ones(()))  # a scaler's scale exists once it has scaled a loss
    hook, runner = FiniteLossHook(), _Runner(tmp_path, scaler)
    hook.before_train_iter(runner, 0)
    scaler.update(new_scale=scaler.get_scale() / 2)  # the step was skipped
    hook.after_train_iter(runner, 0, outputs=dict(loss=torch.tensor(float('inf'))))
    assert 'the loss scaler skipped the step' in caplog.text
    hook.before_train_iter(runner, 1)  # the scale stays: a real divergence
    with pytest.raises(FloatingPointError):
        hook.after_train_iter(runner, 1, outputs=dict(loss=torch.tensor(float('inf'))))


def test_rank_states_are_gathered_only_when_a_checkpoint_is_written(tmp_path, monkeypatch):
    """LITv2Runner gathers every rank's random states right before a checkpoint (a
    collective on every rank; mmengine calls before_save_checkpoint on rank 0 only), and in
    no other iteration. Two ranks simulated: the gather returns this rank's states twice."""
    from toy_training import run

    import litv2_mm.engine.hooks as hooks
    from litv2_mm.engine import LITv2Runner
    gathered = []

    def all_gather_object(states):
        gathered.append(states)
        return [states, states]

    monkeypatch.setattr(hooks, 'get_world_size', lambda: 2)
    monkeypatch.setattr(hooks, 'all_gather_object', all_gather_object)
    run(tmp_path / 'w', tmp_path / 'log', max_iters=7, runner_type=LITv2Runner)  # interval 3
    assert len(gathered) == 3  # iterations 3, 6 and 7 (the last)
    saved = torch.load(tmp_path / 'w' / 'iter_6.pth', weights_only=True)['rng_states']
    assert len(saved) == 2
