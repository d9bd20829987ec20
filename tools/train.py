"""Train a detector, segmentor or classifier from an OpenMMLab config (mmdet / mmseg / mmpretrain).

The flags only change the config; the config declares the whole run, so mmdet's, mmseg's and
mmpretrain's own tools/train.py run it the same way.

    python tools/train.py CONFIG [--work-dir DIR] [--amp] [--resume [CKPT]] [--cfg-options k=v ...]
    torchrun --nproc-per-node 8 tools/train.py CONFIG --launcher pytorch

Exit status: 0 when training ends, 75 when a stop signal (SIGTERM, SIGUSR1) stopped it after
writing a checkpoint of the iteration in flight (``--resume`` continues it), 1 on an error.
"""
import argparse
import os

from mmengine.config import DictAction
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from litv2_mm.checkpoint import resume_latest
from litv2_mm.config import load_tool_config


def parse_args():
    parser = argparse.ArgumentParser(description='Train a LITv2 model (detection, segmentation '
                                                 'or classification config)')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='directory for logs and checkpoints')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision training')
    parser.add_argument('--auto-scale-lr', action='store_true',
                        help='scale the lr by total batch / auto_scale_lr.base_batch_size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT; without a path, from the latest checkpoint in '
                             'the work dir if there is one, else start as configured (a requeued '
                             'or restarted job continues, a first one starts)')
    parser.add_argument('--data-root', help='point every dataset and evaluator at this root '
                                            '(e.g. data/coco/ or data/ade/ADEChallengeData2016/)')
    parser.add_argument('--seed', type=int, help='random seed (with --deterministic for '
                                                 'bit-exact CPU runs)')
    parser.add_argument('--deterministic', action='store_true',
                        help='deterministic algorithms (slower)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override config settings, key=value (e.g. train_cfg.max_epochs=2)')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher for distributed training')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


def build_config(args):
    cfg = load_tool_config(args.config, args.launcher, args.data_root, args.cfg_options,
                           args.work_dir)
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') != 'AmpOptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.loss_scale = 'dynamic'
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise ValueError(f'--auto-scale-lr: {args.config} has no auto_scale_lr.base_batch_size')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        resume_latest(cfg)
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    if args.seed is not None or args.deterministic:
        randomness = dict(cfg.get('randomness', {}))
        if args.seed is not None:
            randomness['seed'] = args.seed
        randomness['deterministic'] = args.deterministic
        cfg.randomness = randomness
    return cfg


def main():
    args = parse_args()
    cfg = build_config(args)
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
    runner.train()


if __name__ == '__main__':
    main()
