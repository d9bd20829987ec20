"""Tests of the ensure_* bookkeeping, argument checks and the make_synthetic_data CLI."""
import json
import os
from pathlib import Path

import pytest

from litv2_mm import synthetic_data as synthetic
from litv2_mm.synthetic_data import (DEFAULT_ROOT, ensure_ade, ensure_ade20k, ensure_coco,
                                     ensure_coco2017, ensure_datasets, ensure_imagenet, load_meta,
                                     make_ade, make_coco, make_coco2017)


def set_old_mtime(paths):
    for path in paths:
        os.utime(path, ns=(10**18, 10**18))


@pytest.mark.parametrize('ensure, image_glob', [
    (ensure_coco, 'train/*.jpg'), (ensure_ade, 'images/training/*.jpg'),
    (ensure_coco2017, 'train2017/*.jpg'),
    (ensure_ade20k, 'ADEChallengeData2016/images/training/*.jpg'),
    (ensure_imagenet, 'train/*/*.JPEG')])
def test_ensure_reuses_matching_and_regenerates_changed(tmp_path, ensure, image_glob):
    params = dict(num_train=3, num_val=1, image_size=40)
    root = tmp_path / 'set'
    ensure(root, **params)
    assert load_meta(root)['params']['num_train'] == 3
    per_image = len(list(root.glob(image_glob))) // 3  # imagenet: 3 per class
    watched = [root / 'meta.json', *root.glob(image_glob)]
    set_old_mtime(watched)

    ensure(root, **params)
    assert all(path.stat().st_mtime_ns == 10**18 for path in watched)

    ensure(root, **{**params, 'num_train': 2})
    assert (root / 'meta.json').stat().st_mtime_ns != 10**18
    assert load_meta(root)['params']['num_train'] == 2
    assert len(list(root.glob(image_glob))) == 2 * per_image  # the stale third images are gone

    removed = sorted(root.glob(image_glob))[0]
    removed.unlink()
    ensure(root, **{**params, 'num_train': 2})
    assert removed.is_file()


def test_ensure_returns_the_dataset_dir(tmp_path):
    params = dict(num_train=1, num_val=1, image_size=32)
    assert ensure_coco(tmp_path / 'coco', **params) == tmp_path / 'coco'
    assert (ensure_ade20k(tmp_path / 'ade20k', **params)
            == tmp_path / 'ade20k' / 'ADEChallengeData2016')


def test_default_root_is_relative_to_the_working_directory(tmp_path, monkeypatch):
    assert DEFAULT_ROOT == Path('data', 'generated') and not DEFAULT_ROOT.is_absolute()
    assert 'REPO_ROOT' not in vars(synthetic.common)
    monkeypatch.chdir(tmp_path)
    root = ensure_coco2017(num_train=1, num_val=1, image_size=32)
    assert root == Path('data', 'generated', 'coco2017')
    assert (tmp_path / 'data' / 'generated' / 'coco2017' / 'annotations'
            / 'instances_val2017.json').is_file()


def test_ensure_datasets_layout(tmp_path):
    dirs = ensure_datasets(tmp_path, which='all', num_train=1, num_val=1, image_size=32)
    assert dirs == {'coco': tmp_path / 'coco', 'ade': tmp_path / 'ade',
                    'coco2017': tmp_path / 'coco2017',
                    'ade20k': tmp_path / 'ade20k' / 'ADEChallengeData2016',
                    'imagenet': tmp_path / 'imagenet'}
    for name in ('coco', 'ade', 'coco2017', 'ade20k', 'imagenet'):
        assert load_meta(tmp_path / name)['dataset'] == name
    assert ensure_datasets(tmp_path, which='imagenet', num_train=1, num_val=1, image_size=32) == {
        'imagenet': tmp_path / 'imagenet'}


@pytest.mark.parametrize('call, argument', [
    (lambda out: make_coco(out, num_train=0), 'num_train'),
    (lambda out: make_ade(out, num_val=-2), 'num_val'),
    (lambda out: make_coco(out, image_size=31), 'image_size'),
    (lambda out: make_ade(out, image_size=(64, 16)), 'image_size'),
    (lambda out: make_coco2017(out, image_size=(64, 64, 3)), 'image_size'),
    (lambda out: make_coco(out, seed=-1), 'seed'),
    (lambda out: ensure_coco(out, num_train=2.5), 'num_train'),
    (lambda out: ensure_imagenet(out, num_val=0), 'num_val'),
    (lambda out: ensure_datasets(out, which='voc'), 'which'),
])
def test_bad_arguments_raise_value_error(tmp_path, call, argument):
    with pytest.raises(ValueError, match=argument):
        call(tmp_path / 'out')
    assert not (tmp_path / 'out').exists()


@pytest.fixture
def cli(load_tool):
    """tools/data/make_synthetic_data.py, loaded as a module."""
    return load_tool('data/make_synthetic_data')


def test_cli_generates_then_reuses(tmp_path, capsys, cli):
    argv = ['--out', str(tmp_path), '--which', 'coco', '--num-train', '2', '--num-val', '1',
            '--size', '40', '48']
    cli.main(argv)
    assert 'coco (generated)' in capsys.readouterr().out
    cli.main(argv)
    output = capsys.readouterr().out
    assert 'coco (up to date)' in output and 'train: 2 images' in output
    assert load_meta(tmp_path / 'coco')['params']['image_size'] == [40, 48]


@pytest.mark.parametrize('which, summary', [('coco2017', 'val: 1 images'),
                                            ('ade20k', 'train: 2 images'),
                                            ('imagenet', 'train: 8 images')])
def test_cli_new_datasets(tmp_path, capsys, cli, which, summary):
    cli.main(['--out-dir', str(tmp_path), '--which', which, '--num-train', '2', '--num-val', '1',
              '--size', '40'])
    output = capsys.readouterr().out
    assert f'{which} (generated)' in output and summary in output
    assert json.loads((tmp_path / which / 'meta.json').read_text())['dataset'] == which


def test_session_fixtures(coco2017_root, ade20k_root, imagenet_root):
    assert (coco2017_root / 'annotations' / 'instances_train2017.json').is_file()
    assert len(list((coco2017_root / 'val2017').glob('*.jpg'))) == 2
    assert ade20k_root.name == 'ADEChallengeData2016'
    assert len(list((ade20k_root / 'annotations' / 'validation').glob('*.png'))) == 2
    assert len((imagenet_root / 'meta' / 'train.txt').read_text().splitlines()) == 16
