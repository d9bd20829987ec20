"""tools/analysis/plot_training.py: losses against the iteration, each evaluation at the last
training iteration logged before it (mmengine logs an iteration-based run's metrics with
step 0), one PNG."""
import json

import pytest


def write_scalars(path, records):
    path.parent.mkdir(parents=True)
    path.write_text(''.join(json.dumps(r) + '\n' for r in records))


def test_losses_and_evaluations(tmp_path, load_tool):
    tool = load_tool('analysis/plot_training')
    scalars = tmp_path / '20261201_000000' / 'vis_data' / 'scalars.json'
    write_scalars(scalars, [
        dict(loss=3.0, loss_cls=2.0, iter=10, step=10),
        dict(loss=2.0, loss_cls=1.5, iter=20, step=20),
        {'coco/bbox_mAP': 0.1, 'step': 0},
        dict(loss=1.0, loss_cls=0.5, iter=30, step=30), {'coco/bbox_mAP': 0.3, 'step': 0}])
    assert tool.find_scalars(str(tmp_path)) == str(scalars)
    losses, evals = tool.read_scalars(str(scalars), tool.DEFAULT_METRICS)
    assert losses == {'loss': [(10, 3.0), (20, 2.0), (30, 1.0)],
                      'loss_cls': [(10, 2.0), (20, 1.5), (30, 0.5)]}
    assert evals == {'coco/bbox_mAP': [(20, 0.1), (30, 0.3)]}
    out = tmp_path / 'curves.png'
    tool.plot(losses, evals, str(out), 'title')
    assert out.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_a_folder_without_a_run_is_named(tmp_path, load_tool):
    tool = load_tool('analysis/plot_training')
    with pytest.raises(FileNotFoundError, match=str(tmp_path)):
        tool.find_scalars(str(tmp_path))
