"""Safe checkpoint reading: clear errors for missing, truncated and foreign files."""
import pytest
import torch

from litv2_mm.utils import CheckpointError, load_checkpoint_file


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(tmp_path / 'nope.pth')


def test_truncated_file(tmp_path):
    path = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.randn(1000)}}, path)
    data = path.read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='cut.pth.*truncated or not a PyTorch checkpoint'):
        load_checkpoint_file(cut)


def test_not_a_checkpoint(tmp_path):
    path = tmp_path / 'notes.txt'
    path.write_text('hello')
    with pytest.raises(CheckpointError, match='notes.txt'):
        load_checkpoint_file(path)


def test_not_a_dict(tmp_path):
    path = tmp_path / 'tensor.pth'
    torch.save(torch.randn(3), path)
    with pytest.raises(CheckpointError, match='not a dict'):
        load_checkpoint_file(path)


class Foreign:
    pass


def test_pickled_objects_refused_then_trusted(tmp_path):
    path = tmp_path / 'foreign.pth'
    torch.save({'model': {'w': torch.ones(1)}, 'cfg': Foreign()}, path)
    with pytest.raises(CheckpointError, match='foreign.pth.*trusted=True'):
        load_checkpoint_file(path)
    assert isinstance(load_checkpoint_file(path, trusted=True)['cfg'], Foreign)
