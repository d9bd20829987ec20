"""Evaluate a checkpoint on a config's test set (COCO box/mask AP, mIoU or top-1).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                         [--show-dir DIR] [--amp] [--trust-checkpoint]
                         [--allow-partial-load] [--cfg-options k=v ...]

The flags only change the config (mmdet's, mmseg's and mmpretrain's own tools/test.py run
the same config the same way). A checkpoint that does not fit the model fails before the
evaluation, listing the keys that do not fit.
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from litv2_mm.checkpoint import TRUSTED_PREFIX
from litv2_mm.config import load_tool_config, set_hook_args


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a LITv2 model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation log and metrics')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='write pictures of the predictions into this '
                                           'directory (under the work dir)')
    parser.add_argument('--data-root', help='point every dataset and evaluator at this root')
    parser.add_argument('--amp', action='store_true',
                        help='evaluate under autocast (test_cfg.fp16=True): fp16 on a GPU, '
                             'bf16 on a CPU with native bf16 (fp32, with a warning, without)')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow pickled objects in CHECKPOINT (only for files you trust)')
    parser.add_argument('--allow-partial-load', action='store_true',
                        help='evaluate even if tensors of CHECKPOINT do not fit the model '
                             '(they are listed and left out)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def add_visualization(cfg, show_dir):
    """Turn on the library's visualization hook (mmdet / mmseg) to draw predictions."""
    hooks = cfg.default_hooks
    if 'visualization' not in hooks:
        raise ValueError(f'--show-dir: {cfg.filename} has no visualization hook')
    hooks.visualization.draw = True
    hooks.visualization.test_out_dir = show_dir


def build_config(args):
    """The config with the flags applied: the checkpoint to load, the opt-ins, pictures."""
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_tool_config(args.config, args.launcher, args.data_root, args.cfg_options,
                           args.work_dir)
    cfg.load_from = (TRUSTED_PREFIX if args.trust_checkpoint else '') + args.checkpoint
    cfg.resume = False
    if args.allow_partial_load:
        set_hook_args(cfg, 'CheckpointFitHook', allow_partial=True)
    if args.amp:
        cfg.test_cfg = dict(cfg.get('test_cfg') or {}, fp16=True)
    if args.show_dir:
        add_visualization(cfg, args.show_dir)
    return cfg


def main():
    args = parse_args()
    cfg = build_config(args)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
