"""mmengine's checkpoints under torch's safe loader: the allow-list, the trusted:// opt-in,
an import of litv2_mm that leaves mmengine's loaders alone; atomic writes; CPU DDP."""
import argparse
import pickle
import sys

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub
from mmengine.runner.checkpoint import CheckpointLoader

from litv2_mm.checkpoint import CheckpointError, load_checkpoint_file
from litv2_mm.engine import AtomicLocalBackend

from helpers import run_command


def message_hub_state():
    """What mmengine's CheckpointHook pickles as ``message_hub``."""
    hub = MessageHub.get_instance('test_safe_loading')
    for v in (1.5, 2.5, 3.0):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', 3)
    hub.update_info('lr', np.float64(0.1))
    hub.update_info('arr', np.arange(4, dtype=np.int64))
    return hub.state_dict()


def save(obj, path):
    torch.save(obj, path)
    return path


def test_mmengine_checkpoint_contents_load_with_weights_only(tmp_path):
    path = save({'state_dict': {'w': torch.ones(2)}, 'meta': {'seed': np.int64(5)},
                 'message_hub': message_hub_state()}, tmp_path / 'iter_3.pth')
    ckpt = torch.load(path, weights_only=True)
    restored = ckpt['message_hub']['log_scalars']['train/loss']
    assert isinstance(restored, HistoryBuffer) and restored.current() == 3.0
    assert restored.mean() == pytest.approx(7 / 3)
    assert ckpt['message_hub']['runtime_info']['lr'] == 0.1
    np.testing.assert_array_equal(ckpt['message_hub']['runtime_info']['arr'], np.arange(4))
    assert ckpt['meta']['seed'] == 5
    # and through mmengine's own loader (what load_from and --resume call)
    assert CheckpointLoader.load_checkpoint(str(path))['meta']['seed'] == 5


def test_other_pickled_objects_are_still_refused_naming_the_opt_in(tmp_path):
    path = save({'state_dict': {}, 'meta': argparse.Namespace(a=1)}, tmp_path / 'other.pth')
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    with pytest.raises(CheckpointError, match=r"other.pth.*Namespace.*trusted://"):
        load_checkpoint_file(path)
    # the opt-in, one file at a time, through mmengine's loader as through ours
    assert CheckpointLoader.load_checkpoint(f'trusted://{path}')['meta'].a == 1
    assert load_checkpoint_file(f'trusted://{path}')['meta'].a == 1


def test_import_changes_only_the_allow_list():
    """mmengine's checkpoint loaders are the same objects before and after the import, and
    mmengine alone refuses its own checkpoints (which the import fixes)."""
    code = '''
import io, numpy as np, torch
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader
buf = io.BytesIO(); torch.save({'b': HistoryBuffer([1.0], [1]), 'x': np.float64(2)}, buf)
before = dict(CheckpointLoader._schemes)
globals_before = set(map(str, torch.serialization.get_safe_globals()))
try:
    torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
    print('mmengine alone loads')
except Exception:
    print('mmengine alone refuses')
import litv2_mm
after = dict(CheckpointLoader._schemes)
assert all(after[k] is v for k, v in before.items()), 'a loader was replaced'
print('added schemes', sorted(set(after) - set(before)))
added = set(map(str, torch.serialization.get_safe_globals())) - globals_before
print('allow-list', len(added), any('HistoryBuffer' in a for a in added))
torch.load(io.BytesIO(buf.getvalue()), weights_only=True)
print('loads after import')
'''
    out = run_command([sys.executable, '-c', code], timeout=300).stdout
    lines = [line for line in out.splitlines()  # the script's lines, not a library's warnings
             if line.startswith(('mmengine alone', 'added schemes', 'allow-list', 'loads'))]
    assert lines[0] == 'mmengine alone refuses'
    assert lines[1] == "added schemes ['trusted://']"
    assert lines[2].startswith('allow-list ') and lines[2].endswith(' True')
    assert lines[3] == 'loads after import'


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


def test_cpu_ddp_takes_the_options_mmengine_gives_gpu_runs(monkeypatch):
    """mmengine wraps GPU models with broadcast_buffers=False and the config's
    find_unused_parameters (Runner.wrap_model without a wrapper config); a wrapper config, as
    CPU runs need, would fall back to DDP's broadcast_buffers=True (BatchNorm statistics
    synced from rank 0 every forward on CPU, per rank on GPUs)."""
    import inspect

    from mmengine.config import Config
    from mmengine.runner import Runner

    from litv2_mm.engine import prepare_cpu_distributed
    gpu_defaults = inspect.getsource(Runner.wrap_model)
    assert 'broadcast_buffers=False' in gpu_defaults  # pinned: what mmengine does on GPUs
    monkeypatch.setattr('torch.distributed.is_initialized', lambda: True)
    cfg = Config(dict(launcher='pytorch', model=dict(type='X'), find_unused_parameters=True,
                      env_cfg=dict(dist_cfg=dict(backend='gloo'))))
    assert prepare_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg == dict(type='CPUDistributedDataParallel',
                                         broadcast_buffers=False, find_unused_parameters=True)
    cfg.model_wrapper_cfg = dict(broadcast_buffers=True)  # a user's own choice is kept
    prepare_cpu_distributed(cfg)
    assert cfg.model_wrapper_cfg['broadcast_buffers'] is True
