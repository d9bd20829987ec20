"""Plot the training loss and the evaluation metrics of an mmengine run.

    python tools/analysis/plot_training.py WORK_DIR [--out PNG] [--metrics coco/bbox_mAP ...]

Reads the run's ``vis_data/scalars.json`` (the newest run in WORK_DIR, or the
``scalars.json`` passed) and draws two panels: the logged losses against the iteration,
and every evaluation metric (by default the mAP / mIoU / top-1 keys found) against the
last training iteration logged before it. Writes ``training_curves.png`` next to the log.
"""
import argparse
import glob
import json
import os.path as osp

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402

DEFAULT_METRICS = ('coco/bbox_mAP', 'coco/segm_mAP', 'mIoU', 'accuracy/top1')


def find_scalars(path):
    """``scalars.json`` of the newest run under a work dir (or ``path`` itself)."""
    if osp.isfile(path):
        return path
    found = sorted(glob.glob(osp.join(path, '*', 'vis_data', 'scalars.json')))
    if not found:
        raise FileNotFoundError(f'no */vis_data/scalars.json under {path}: is it the work '
                                'dir of a finished or running mmengine run?')
    return found[-1]


def read_scalars(path, metrics):
    """(losses {name: [(iter, value)]}, evaluations {metric: [(iter, value)]})."""
    losses, evals, last_iter = {}, {}, 0
    with open(path) as f:
        for line in f:
            rec = json.loads(line)
            if 'loss' in rec:
                last_iter = rec.get('iter', rec.get('step', last_iter))
                for key, value in rec.items():
                    if key == 'loss' or key.startswith('loss_'):
                        losses.setdefault(key, []).append((last_iter, value))
            for key in metrics:  # evaluated after the last logged training iteration (the
                if key in rec:   # record's own 'step' is the epoch by default, 0 when by iter)
                    evals.setdefault(key, []).append((last_iter, rec[key]))
    if not losses:
        raise ValueError(f'{path} holds no training loss records')
    return losses, evals


def plot(losses, evals, out, title):
    fig, (ax_loss, ax_eval) = plt.subplots(1, 2, figsize=(11, 4))
    for name, points in losses.items():
        ax_loss.plot(*zip(*points), label=name, linewidth=2 if name == 'loss' else 1)
    ax_loss.set(xlabel='iteration', ylabel='loss', title='training loss')
    ax_loss.legend(fontsize=7)
    for name, points in evals.items():
        ax_eval.plot(*zip(*points), marker='o', label=name)
    ax_eval.set(xlabel='iteration', title='evaluation')
    if evals:
        ax_eval.legend(fontsize=8)
    else:
        ax_eval.text(0.5, 0.5, 'no evaluation logged yet', ha='center', transform=ax_eval.transAxes)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(out, dpi=100)
    plt.close(fig)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('work_dir', help='work dir of a run, or its scalars.json')
    parser.add_argument('--out', help='output PNG (default: training_curves.png beside the log)')
    parser.add_argument('--metrics', nargs='+', default=list(DEFAULT_METRICS),
                        help='evaluation keys to plot (those found are drawn)')
    args = parser.parse_args()
    scalars = find_scalars(args.work_dir)
    losses, evals = read_scalars(scalars, args.metrics)
    out = args.out or osp.join(osp.dirname(osp.dirname(scalars)), 'training_curves.png')
    plot(losses, evals, out, scalars)
    print(f'training curves written to {out}')


if __name__ == '__main__':
    main()
