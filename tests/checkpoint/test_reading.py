"""Safe checkpoint reading (clear errors for missing, truncated and foreign files), the map of
the checkpoint layouts (init_cfg loading, the converter, CheckpointFitHook) and the report
of the keys that do not fit."""
import pytest
import torch

from litv2_mm.checkpoint import (CheckpointError, CheckpointMismatchError, check_checkpoint_file,
                                 check_state_dict_fits, checkpoint_state_dict, load_checkpoint_file,
                                 mismatch_report)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        load_checkpoint_file(tmp_path / 'nope.pth')


def test_truncated_file(tmp_path):
    path = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.randn(1000)}}, path)
    data = path.read_bytes()
    cut = tmp_path / 'cut.pth'
    cut.write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match='cut.pth is truncated'):
        load_checkpoint_file(cut)


def test_broken_checkpoint_files_are_named(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.ones(3)}}, good)
    check_checkpoint_file(str(good))
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:-100])
    text = tmp_path / 'notes.pth'
    text.write_text('not weights')
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    for path, reason in [(truncated, 'truncated'), (text, 'not a PyTorch checkpoint'),
                         (empty, 'empty file')]:
        for check in (check_checkpoint_file, load_checkpoint_file):
            with pytest.raises(CheckpointError, match=reason) as err:
                check(str(path))
            assert str(path) in str(err.value)
    with pytest.raises(CheckpointError, match='truncated'):
        check_checkpoint_file(f'trusted://{truncated}')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        check_checkpoint_file(str(tmp_path / 'missing.pth'))


@pytest.mark.slow  # a tool run
def test_test_tool_names_a_truncated_checkpoint(tmp_path, ade_root, run_tool):
    """The regression of issue 21: tools/test.py (the runner loads the checkpoint) ended
    with PytorchStreamReader's error, naming no file."""
    path = tmp_path / 'full.pth'
    torch.save({'state_dict': {'w': torch.randn(1000)}}, path)
    cut = tmp_path / 'truncated.pth'
    cut.write_bytes(path.read_bytes()[:-200])
    proc = run_tool('test.py', 'configs/sem_fpn/litv2_s_synthetic.py', cut, '--work-dir',
                    tmp_path / 'work', check=False)
    assert proc.returncode != 0
    assert f'CheckpointError: {cut} is truncated' in proc.stdout.strip().splitlines()[-1]


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


def two_layer(width, classes):
    return torch.nn.Sequential(torch.nn.Linear(8, width), torch.nn.Linear(width, classes))


def test_mismatched_checkpoint_lists_keys_with_both_shapes():
    state = {f'module.{k}': v for k, v in two_layer(16, 3).state_dict().items()}
    state['extra.weight'] = torch.zeros(1)
    del state['module.1.bias']
    for ckpt in (state, {'state_dict': state, 'meta': {}}):  # a bare state dict or a checkpoint
        with pytest.raises(CheckpointMismatchError) as err:
            check_state_dict_fits(two_layer(16, 5), ckpt, 'checkpoint b.pth')
        text = str(err.value)
        assert 'checkpoint b.pth does not fit the model: 1 shape mismatches, 1 keys missing' in text
        assert 'shape mismatch: 1.weight: checkpoint (3, 16) vs model (5, 16)' in text
        assert 'missing in checkpoint: 1.bias' in text and 'not in model: extra.weight' in text
        assert 'allow_partial=True on the CheckpointFitHook' in text
    assert check_state_dict_fits(two_layer(16, 3), two_layer(16, 3).state_dict(), 'x') == dict(
        shape=[], missing=[], unexpected=[])


def test_mismatch_report_lists_the_first_keys_and_counts_the_rest():
    found = dict(shape=[('a', (1,), (2,))], missing=['b', 'c'], unexpected=['d'])
    assert mismatch_report(found, 'f.pth', max_listed=2) == (
        'f.pth does not fit the model: 1 shape mismatches, 2 keys missing, 1 keys the model '
        'does not have:\n  shape mismatch: a: checkpoint (1,) vs model (2,)\n'
        '  missing in checkpoint: b\n  ... and 2 more')
    assert mismatch_report(found, 'f.pth').endswith('  missing in checkpoint: c\n  not in model: d')


def test_one_map_of_the_checkpoint_layouts():
    w = torch.ones(1)
    classifier = {'patch_embed.proj.weight': w, 'norm.weight': w, 'head.bias': w}
    mmpretrain = {'backbone.patch_embed.proj.weight': w, 'backbone.norm3.weight': w,
                  'head.fc.bias': w}
    # the authors' ImageNet files, bare or saved from DataParallel: mmpretrain's names
    for ckpt in ({'model': classifier, 'epoch': 300}, classifier,
                 {'model': {'module.' + k: v for k, v in classifier.items()}}):
        state, layout = checkpoint_state_dict(ckpt)
        assert layout == 'imagenet' and list(state) == list(mmpretrain)
    # OpenMMLab files keep their names; only tensors are kept
    dense = {'backbone.norm.weight': w, 'neck.conv.weight': w, 'step': 3}
    for ckpt in ({'state_dict': dense, 'meta': {}}, dense):
        assert checkpoint_state_dict(ckpt) == (
            {'backbone.norm.weight': w, 'neck.conv.weight': w}, 'openmmlab')
    # as mmengine loads into a model: its state_dict or the whole dict, module. stripped
    assert list(checkpoint_state_dict({'model': classifier}, authors_layouts=False)[0]) == [
        'model']
    assert list(checkpoint_state_dict({'state_dict': {'module.a': w, 'b': 1}},
                                      authors_layouts=False)[0]) == ['a', 'b']


def test_converter_writes_the_mapped_layout(tmp_path, load_tool):
    tool = load_tool('model_converters/litv2_to_openmmlab')
    w = torch.ones(1)
    assert tool.convert({'model': {'norm.bias': w, 'head.weight': w}}) == (
        {'backbone.norm3.bias': w, 'head.fc.weight': w}, 'imagenet')
    assert tool.convert({'state_dict': {'backbone.x': w}}) == ({'backbone.x': w}, 'openmmlab')
    with pytest.raises(ValueError, match="no 'model' or 'state_dict'"):
        tool.convert({'backbone.x': w})
