"""Checkpoint contents the safe loader accepts; atomic writes; CPU DDP wrapper."""
import io
import pickle

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer

from litv2_mm.engine import AtomicLocalBackend, to_safe_types
from litv2_mm.engine.safe_checkpoint import (SafeCheckpointHook, from_safe_types,
                                             get_rng_states, set_rng_states)


def roundtrip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf, weights_only=True)


def test_message_hub_state_survives_the_safe_loader():
    buf = HistoryBuffer()
    for v in (1.5, 2.5, 3.0):
        buf.update(v)
    state = {'log_scalars': {'train/loss': buf}, 'runtime_info': {
        'iter': 3, 'lr': np.float64(0.1), 'arr': np.arange(4), 'names': np.array(['a', 'b'])}}
    with pytest.raises(pickle.UnpicklingError):
        roundtrip(state)  # what mmengine writes today
    back = from_safe_types(roundtrip(to_safe_types(state)))
    restored = back['log_scalars']['train/loss']
    assert isinstance(restored, HistoryBuffer)
    np.testing.assert_array_equal(restored.data[0], buf.data[0])
    assert restored.mean() == buf.mean() and restored.current() == 3.0
    assert back['runtime_info']['lr'] == 0.1
    np.testing.assert_array_equal(back['runtime_info']['arr'], np.arange(4))
    assert back['runtime_info']['names'] == ['a', 'b']


def test_rng_states_roundtrip_through_the_safe_loader():
    torch.manual_seed(3)
    np.random.seed(3)
    states = roundtrip(get_rng_states())
    expected = (torch.rand(3), np.random.rand(3))
    torch.manual_seed(99)
    np.random.seed(99)
    set_rng_states(states)
    torch.testing.assert_close(torch.rand(3), expected[0], rtol=0, atol=0)
    np.testing.assert_array_equal(np.random.rand(3), expected[1])


def test_hook_converts_a_checkpoint_both_ways():
    hook = SafeCheckpointHook()
    buf = HistoryBuffer()
    buf.update(1.0)
    ckpt = {'state_dict': {'w': torch.ones(2)}, 'meta': {'seed': np.int64(5)},
            'message_hub': {'log_scalars': {'loss': buf}}}
    hook.before_save_checkpoint(None, ckpt)
    loaded = roundtrip(ckpt)
    assert 'rng_states' in loaded

    class Runner:
        _resume = True
    hook.after_load_checkpoint(Runner(), loaded)
    assert isinstance(loaded['message_hub']['log_scalars']['loss'], HistoryBuffer)
    assert hook._pending_rng is not None


def test_atomic_write_leaves_the_old_file_when_interrupted(tmp_path, monkeypatch):
    target = tmp_path / 'latest.pth'
    backend = AtomicLocalBackend()
    backend.put(b'old checkpoint', target)

    def broken_fsync(fd):
        raise KeyboardInterrupt  # a kill in the middle of saving

    monkeypatch.setattr('os.fsync', broken_fsync)
    with pytest.raises(KeyboardInterrupt):
        backend.put(b'new checkpoint, half written', target)
    assert target.read_bytes() == b'old checkpoint'
    assert [p.name for p in tmp_path.iterdir()] == ['latest.pth']  # no temp file left


def test_cpu_ddp_wrapper_drops_device_ids(tmp_path):
    import torch.distributed as dist

    from litv2_mm.engine import CPUDistributedDataParallel
    dist.init_process_group('gloo', init_method=f'file://{tmp_path}/store', rank=0,
                            world_size=1)
    try:
        model = CPUDistributedDataParallel(module=torch.nn.Linear(2, 2), device_ids=[0])
        assert model.device_ids is None
    finally:
        dist.destroy_process_group()
