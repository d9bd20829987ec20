"""tools/train.py and tools/test.py only turn their flags into config changes (the ones
mmdet's tools make for the same flags)."""
import sys


def config_from_flags(load_tool, monkeypatch, script, *argv):
    tool = load_tool(script)
    monkeypatch.setattr(sys, 'argv', [script, *map(str, argv)])
    return tool, tool.parse_args()


def test_train_flags(load_tool, monkeypatch, repo_root, tmp_path):
    config = f'{repo_root}/configs/mask_rcnn/litv2_s_1x.py'
    tool, args = config_from_flags(
        load_tool, monkeypatch, 'train', config, '--amp', '--resume', '--seed', '3',
        '--data-root', tmp_path, '--work-dir', tmp_path / 'w', '--cfg-options',
        'train_cfg.max_epochs=2', 'custom_hooks.1.allow_partial=True')
    cfg = tool.build_config(args)
    assert cfg.optim_wrapper.type == 'AmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.resume is False  # --resume without a checkpoint in the work dir: a first start
    assert cfg.randomness == dict(seed=3, deterministic=False)
    assert cfg.train_dataloader.dataset.data_root == f'{tmp_path}/'
    assert cfg.val_evaluator.ann_file == f'{tmp_path}/annotations/instances_val2017.json'
    assert cfg.train_cfg.max_epochs == 2
    assert cfg.custom_hooks[1] == dict(type='CheckpointFitHook', allow_partial=True)
    assert cfg.work_dir == str(tmp_path / 'w')
    # nothing else: the runner, hooks and checks come from the config itself
    assert cfg.runner_type == 'LITv2Runner'
    assert [h['type'] for h in cfg.custom_hooks] == [
        'ExactResumeHook', 'CheckpointFitHook', 'FiniteLossHook', 'PreemptionHook']
    (tmp_path / 'w').mkdir()
    (tmp_path / 'w' / 'last_checkpoint').write_text(str(tmp_path / 'w' / 'epoch_1.pth'))
    cfg = tool.build_config(args)
    assert cfg.resume is True and cfg.load_from is None  # a requeued job: the latest



def test_train_resume_from_a_given_checkpoint(load_tool, monkeypatch, repo_root):
    tool, args = config_from_flags(load_tool, monkeypatch, 'train',
                                   f'{repo_root}/configs/upernet/litv2_s_512x512_160k_ade20k.py',
                                   '--resume', 'work/iter_8000.pth')
    cfg = tool.build_config(args)
    assert cfg.resume is True and cfg.load_from == 'work/iter_8000.pth'
    assert cfg.train_cfg.type == 'ResumableIterBasedTrainLoop'


def test_test_flags(load_tool, monkeypatch, repo_root, tmp_path):
    ckpt = tmp_path / 'epoch_12.pth'
    ckpt.write_bytes(b'')
    tool, args = config_from_flags(load_tool, monkeypatch, 'test',
                                   f'{repo_root}/configs/retinanet/litv2_s_1x.py', ckpt,
                                   '--trust-checkpoint', '--allow-partial-load',
                                   '--show-dir', 'pictures', '--amp')
    cfg = tool.build_config(args)
    assert cfg.load_from == f'trusted://{ckpt}' and cfg.resume is False
    assert cfg.custom_hooks[1] == dict(type='CheckpointFitHook', allow_partial=True)
    assert cfg.default_hooks.visualization.draw is True
    assert cfg.default_hooks.visualization.test_out_dir == 'pictures'
    # --amp: mmengine's own switch, which LITv2Runner turns into bf16 on a CPU
    assert cfg.test_cfg.type == 'TestLoop' and cfg.test_cfg.fp16 is True
