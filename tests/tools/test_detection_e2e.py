"""End to end on the embedded COCO-format data: a LITv2 RetinaNet learns (its box AP beats
what the training boxes alone give without looking at the images), tools/test.py reproduces
the AP, tools/infer.py draws a picture; a checkpoint of another architecture fails in
tools/test.py, tools/infer.py and load_from before any work, naming the keys."""
import glob
import json
import os.path as osp
import re

import numpy as np
import pytest

from helpers import RETINANET_SHORT

pytestmark = pytest.mark.slow  # end to end: see pyproject.toml

# the same detector, wider: its tensors do not fit the checkpoint above
WIDER = """
model = dict(backbone=dict(arch=dict(_delete_=True, embed_dims=48, depths=(1, 1, 1, 1),
                                     num_heads=(1, 2, 4, 8))),
             neck=dict(in_channels=[48, 96, 192, 384]))
"""


def metric_lines(text):
    """'coco/bbox_mAP: 0.0123' pairs printed by mmengine after an evaluation."""
    return dict(re.findall(r'(coco/bbox_mAP(?:_50)?): (-?[0-9.]+)', text))


def image_blind_map(coco_root, seed=0):
    """bbox mAP of a detector that never looks at the image: for every validation image it
    predicts the boxes of 10 random training images, each with every class and a random
    score (the training set's box sizes and positions, nothing learned from pixels)."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    train = json.load(open(osp.join(coco_root, 'annotations', 'instances_train.json')))
    val = COCO(osp.join(coco_root, 'annotations', 'instances_val.json'))
    rng = np.random.default_rng(seed)
    boxes_by_image = {}
    for ann in train['annotations']:
        boxes_by_image.setdefault(ann['image_id'], []).append(ann['bbox'])
    images = list(boxes_by_image)
    results = []
    for img_id in val.getImgIds():
        for src in rng.choice(len(images), 10, replace=False):
            for box in boxes_by_image[images[src]]:
                for cat in val.getCatIds():
                    results.append(dict(image_id=img_id, category_id=cat, bbox=box,
                                        score=float(rng.random())))
    evaluator = COCOeval(val, val.loadRes(results), 'bbox')
    evaluator.evaluate()
    evaluator.accumulate()
    evaluator.summarize()
    return evaluator.stats[0]


def test_retinanet_learns_and_test_py_reproduces_the_ap(tmp_path, coco_root, run_tool,
                                                         tiny_config, trained_retinanet):
    cfg, ckpt, train_out = trained_retinanet
    trained = metric_lines(train_out)
    baseline = image_blind_map(coco_root)
    assert float(trained['coco/bbox_mAP']) > baseline, (trained, baseline)
    test = run_tool('test.py', cfg, ckpt, '--work-dir', tmp_path / 'test',
                    '--out', tmp_path / 'preds.pkl', timeout=900)
    assert metric_lines(test.stdout) == trained
    assert (tmp_path / 'preds.pkl').stat().st_size > 0

    image = sorted(glob.glob(osp.join(coco_root, 'val', '*.jpg')))[0]
    infer = run_tool('infer.py', cfg, ckpt, image, '--out-dir', tmp_path / 'vis',
                     '--score-thr', '0.05', timeout=600)
    pictures = glob.glob(str(tmp_path / 'vis' / 'vis' / '*.jpg'))
    assert pictures, infer.stdout[-2000:]
    empty = tmp_path / 'empty.jpg'
    empty.write_bytes(b'')
    bad = run_tool('infer.py', cfg, ckpt, empty, check=False)
    assert bad.returncode != 0 and 'image file is empty (0 bytes): ' + str(empty) in bad.stdout

    # a checkpoint of another architecture: named errors before any evaluation or training
    wider = tiny_config(tmp_path, 'retinanet/litv2_s_1x_synthetic.py', RETINANET_SHORT + WIDER)
    expected = (r'does not fit the model: \d+ shape mismatches, \d+ keys missing.*'
                r'shape mismatch: backbone\.\S+: checkpoint \(\d+(, \d+)*\) vs model')
    for script, args in (('test.py', [wider, ckpt, '--work-dir', tmp_path / 'bad']),
                         ('infer.py', [wider, ckpt, image, '--out-dir', tmp_path / 'bad']),
                         ('train.py', [wider, '--work-dir', tmp_path / 'bad', '--cfg-options',
                                       f'load_from={ckpt}'])):
        bad = run_tool(script, *args, check=False)
        assert bad.returncode != 0 and re.search(expected, bad.stdout, re.S), bad.stdout[-3000:]
        assert 'coco/bbox_mAP' not in bad.stdout and 'Iter(train)' not in bad.stdout
    partial = run_tool('test.py', wider, ckpt, '--work-dir', tmp_path / 'partial',
                       '--allow-partial-load', '--cfg-options', 'test_dataloader.dataset.indices=2')
    assert '(partial load allowed)' in partial.stdout and 'coco/bbox_mAP' in partial.stdout
