"""LITv2Runner, as the configs declare it: the annotation files of a dataloader are checked
before its loop builds it (naming the file, the missing classes and the config), and every
built dataloader's pipeline names the image it fails on."""
import json
import shutil

import pytest
from mmengine.config import Config

from litv2_mm.data_checks import CheckedPipeline, DataError
from litv2_mm.engine import LITv2Runner, SeededPipeline


def runner_for(tmp_path, repo_root, data_root):
    cfg = Config.fromfile(f'{repo_root}/configs/retinanet/litv2_s_1x_synthetic.py')
    cfg.work_dir = str(tmp_path / 'work')
    cfg.model.backbone.init_cfg = None
    from litv2_mm.config import set_data_root
    set_data_root(cfg, str(data_root))
    return LITv2Runner.from_cfg(cfg)


@pytest.mark.slow  # builds and trains a detector
def test_built_dataloaders_check_their_images(tmp_path, repo_root, coco_root):
    runner = runner_for(tmp_path, repo_root, coco_root)
    for loader in (runner.train_dataloader, runner.val_dataloader, runner.test_dataloader):
        # seeded per sample (the outer wrapper), checked transform by transform (inside)
        assert isinstance(loader.dataset.pipeline, SeededPipeline)
        assert isinstance(loader.dataset.pipeline.pipeline, CheckedPipeline)


def without_star(data, split):
    ann = data / 'annotations' / f'instances_{split}.json'
    content = json.loads(ann.read_text())
    content['categories'] = [c for c in content['categories'] if c['name'] != 'star']
    ann.write_text(json.dumps(content))


def test_categories_are_checked_before_the_dataloader_is_built(tmp_path, repo_root, coco_root):
    data = tmp_path / 'coco'
    shutil.copytree(coco_root, data)
    without_star(data, 'train')
    runner = runner_for(tmp_path, repo_root, data)
    with pytest.raises(DataError, match=r"instances_train.json has no category for 1 of the 4 "
                                        r"classes of config .*litv2_s_1x_synthetic.py: \['star'\]"):
        runner.train_dataloader
    without_star(data, 'val')  # the val and test loops check theirs (and the evaluator's)
    for split in ('val', 'test'):
        with pytest.raises(DataError, match=f'{split}_dataloader: annotation file .*'
                                            r"instances_val.json has no category .*\['star'\]"):
            getattr(runner, f'{split}_dataloader')


def test_a_refused_checkpoint_names_the_file_the_type_and_the_opt_in(tmp_path, repo_root,
                                                                     coco_root):
    import argparse

    import torch

    from litv2_mm.checkpoint import CheckpointError
    runner = runner_for(tmp_path, repo_root, coco_root)
    path = tmp_path / 'pickled.pth'
    torch.save({'state_dict': runner.model.state_dict(), 'meta': argparse.Namespace()}, path)
    with pytest.raises(CheckpointError, match=r'pickled.pth pickles objects .*Namespace.*'
                                              r"prefix its path with 'trusted://'"):
        runner.load_checkpoint(str(path))
    assert runner.load_checkpoint(f'trusted://{path}')['meta'] == argparse.Namespace()


def test_deterministic_mode_gets_the_cublas_setting_it_needs(monkeypatch):
    """torch refuses cuBLAS in deterministic mode without CUBLAS_WORKSPACE_CONFIG; mmengine
    does not set it. A value the user set is kept."""
    import os

    from litv2_mm.engine.runner import prepare_deterministic
    monkeypatch.delenv('CUBLAS_WORKSPACE_CONFIG', raising=False)
    assert not prepare_deterministic(Config(dict(randomness=dict(seed=0))))
    assert 'CUBLAS_WORKSPACE_CONFIG' not in os.environ
    assert prepare_deterministic(Config(dict(randomness=dict(deterministic=True))))
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':4096:8'
    monkeypatch.setenv('CUBLAS_WORKSPACE_CONFIG', ':16:8')
    prepare_deterministic(Config(dict(randomness=dict(deterministic=True))))
    assert os.environ['CUBLAS_WORKSPACE_CONFIG'] == ':16:8'
