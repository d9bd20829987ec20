"""Evaluate a checkpoint on a config's test set (COCO box/mask AP, mIoU or top-1).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
                         [--show-dir DIR] [--tta] [--cfg-options k=v ...]
"""
import argparse
import os
import os.path as osp

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from litv2_mm.apis import load_tool_config, prepare_run


def parse_args():
    parser = argparse.ArgumentParser(description='Test (and evaluate) a LITv2 model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='directory for the evaluation log and metrics')
    parser.add_argument('--out', help='dump the raw predictions to this .pkl file')
    parser.add_argument('--show-dir', help='write pictures of the predictions into this '
                                           'directory (under the work dir)')
    parser.add_argument('--data-root', help='point every dataset and evaluator at this root')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow pickled objects in CHECKPOINT (only for files you trust)')
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


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_tool_config(args)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    if args.show_dir:
        add_visualization(cfg, args.show_dir)
    prepare_run(cfg, trusted_checkpoint=args.trust_checkpoint)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    if args.out:
        if not args.out.endswith(('.pkl', '.pickle')):
            raise ValueError(f'--out must be a .pkl file, got {args.out}')
        from mmengine.evaluator import DumpResults
        runner.test_evaluator.metrics.append(DumpResults(out_file_path=args.out))
    runner.test()


if __name__ == '__main__':
    main()
