"""Whole LITv2 detectors and segmentors deployed through mmdeploy (configs/deploy/) run in
ONNX Runtime with PyTorch's results.

Tiny RetinaNet, Mask R-CNN and Semantic FPN models (random weights, their classification
layers redrawn so that scores spread and NMS has many boxes to sort), exported static and
dynamic (the fast part: RetinaNet dynamic, Semantic FPN static; the rest is slow): the graph
uses only standard ONNX operators (GridSample for DTM, NonMaxSuppression), and on validation
images the deployed model's detections (boxes, scores, labels, masks) or class map match
PyTorch's within stated tolerances. (These caught mmdeploy's inverted attention scale.)
Slow part also: the end-to-end tests' trained RetinaNet (dynamic) and Semantic FPN (static)
through tools/deployment/deploy.py: the same box AP / mIoU as PyTorch within 0.002.
"""
import glob
import json
import os.path as osp

import numpy as np
import pytest
import torch

from litv2_mm.apis import init_model
from litv2_mm.config import load_tool_config
from litv2_mm.deployment.end2end import METRIC_TOL, export, load_configs, precision, unpadded_inputs

pytest.importorskip('mmdeploy')
onnx = pytest.importorskip('onnx')
pytest.importorskip('onnxruntime')

SHRINK = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             neck=dict(in_channels=tiny_widths))
"""
# Tolerances of the per-image comparison (fp32 on both sides): a matched detection has the
# same label, box corners within BOX_TOL px, scores within SCORE_TOL; detections near a
# decision boundary (the score threshold, NMS's IoU threshold, the top-k cut) may flip, so
# MATCHED of them must match in both directions.
BOX_TOL, SCORE_TOL, MATCHED = 0.05, 1e-4, 0.97
MASK_AGREE = 0.99   # share of mask pixels (in the image) both models agree on
PIXEL_AGREE = 0.999  # share of class-map pixels both models agree on
LOGIT_TIE = 1e-4  # where they do not, PyTorch's best two logits (about 60) are this close


def deploy_config(repo_root, task, shape):
    return osp.join(repo_root, 'configs', 'deploy', f'{task}_onnxruntime_{shape}.py')


def save_random_model(cfg, path, layers=None):
    """Random (seeded) weights of ``cfg``'s model, saved as a checkpoint; the classification
    layers in ``layers`` {module path: (weight std, bias)} redrawn, so that their scores
    spread (a freshly initialised head gives every class nearly the same score)."""
    torch.manual_seed(0)
    model = init_model(cfg)
    with torch.no_grad():
        for name, (std, bias) in (layers or {}).items():
            layer = model.get_submodule(name)
            layer.weight.normal_(0, std)
            layer.bias.fill_(bias)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return str(path)


def onnx_ops(path):
    graph = onnx.load(path, load_external_data=False).graph
    return {(node.domain or 'ai.onnx', node.op_type) for node in graph.node}


def match_detections(a, b):
    """Share of ``a``'s detections with a partner in ``b`` (InstanceData): same label, every
    box corner within BOX_TOL, score within SCORE_TOL (each partner used once)."""
    if len(a) == 0:
        return 1.0 if len(b) == 0 else 0.0
    used = np.zeros(len(b), bool)
    found = 0
    for box, score, label in zip(a.bboxes.numpy(), a.scores.numpy(), a.labels.numpy()):
        ok = ((b.labels.numpy() == label) & ~used
              & (np.abs(b.scores.numpy() - score) <= SCORE_TOL)
              & (np.abs(b.bboxes.numpy() - box).max(1) <= BOX_TOL))
        if ok.any():
            used[np.flatnonzero(ok)[0]] = True
            found += 1
    return found / len(a)


def matched_pairs(a, b):
    """Index pairs (i, j) of the detections that match (as in match_detections)."""
    pairs, used = [], set()
    for i in range(len(a)):
        for j in range(len(b)):
            if (j not in used and int(a.labels[i]) == int(b.labels[j])
                    and abs(float(a.scores[i] - b.scores[j])) <= SCORE_TOL
                    and float((a.bboxes[i] - b.bboxes[j]).abs().max()) <= BOX_TOL):
                pairs.append((i, j))
                used.add(j)
                break
    return pairs


def predictions(deploy_cfg, model_cfg, files, checkpoint, images):
    """[(deployed, PyTorch) result of each image], both through mmdeploy's task processor."""
    from mmdeploy.apis import build_task_processor
    deploy_cfg, model_cfg = load_configs(deploy_cfg, model_cfg)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    deployed = processor.build_backend_model(
        files, data_preprocessor_updater=unpadded_inputs(deploy_cfg, model_cfg))
    pytorch = processor.build_pytorch_model(checkpoint)
    pairs = []
    for img in images:
        data, _ = processor.create_input(img)
        with torch.no_grad():
            pairs.append((deployed.test_step(data)[0], pytorch.test_step(data)[0]))
    return pairs


DETECTORS = {
    # task, config, {classification layer: (weight std, bias)}
    'retinanet': ('detection', 'retinanet/litv2_s_1x_synthetic.py',
                  {'bbox_head.retina_cls': (0.3, -2.0)}),
    'mask_rcnn': ('instance-seg', 'mask_rcnn/litv2_s_1x_synthetic.py',
                  {'roi_head.bbox_head.fc_cls': (0.3, 0.0)}),
}


SLOW = pytest.mark.slow


# the fast part deploys RetinaNet (dynamic) and Semantic FPN (static); the rest is slow
@pytest.mark.parametrize('detector,shape', [
    pytest.param('retinanet', 'static', marks=SLOW), ('retinanet', 'dynamic'),
    pytest.param('mask_rcnn', 'static', marks=SLOW),
    pytest.param('mask_rcnn', 'dynamic', marks=SLOW)])
def test_detector_deploys_with_the_detections_of_pytorch(detector, shape, repo_root, coco_root,
                                                         tmp_path, tiny_config):
    task, base, layers = DETECTORS[detector]
    cfg = tiny_config(tmp_path, base, SHRINK)
    checkpoint = save_random_model(cfg, tmp_path / 'model.pth', layers)
    images = sorted(glob.glob(osp.join(coco_root, 'val', '*.jpg')))[:3]
    deploy_cfg = deploy_config(repo_root, task, shape)
    files = export(deploy_cfg, cfg, checkpoint, images[0], str(tmp_path / 'onnx'))
    ops = onnx_ops(files[0])
    assert {('ai.onnx', 'GridSample'), ('ai.onnx', 'NonMaxSuppression')} <= ops
    assert {domain for domain, _ in ops} == {'ai.onnx'}, ops  # no custom operator

    for deployed, pytorch in predictions(deploy_cfg, cfg, files, checkpoint, images):
        a, b = deployed.pred_instances, pytorch.pred_instances
        assert len(b) >= 20  # NMS kept many boxes: the comparison has something to compare
        assert match_detections(a, b) >= MATCHED and match_detections(b, a) >= MATCHED
        if task == 'instance-seg':
            for i, j in matched_pairs(a, b):
                agree = (a.masks[i].bool() == b.masks[j].bool()).float().mean()
                assert agree >= MASK_AGREE, (i, j, float(agree))


class RPNProposals(torch.nn.Module):
    """A two-stage detector's backbone, neck and RPN up to its proposals (mmdet's
    ``rpn_head.predict_by_feat``, which the deploy configs' rewrite replaces)."""

    def __init__(self, detector):
        super().__init__()
        self.detector = detector

    def forward(self, inputs):
        head = self.detector.rpn_head
        metas = [dict(img_shape=torch._shape_as_tensor(inputs)[2:])]
        return head.predict_by_feat(*head(self.detector.extract_feat(inputs)),
                                    batch_img_metas=metas, rescale=False)


def deployed_proposals(deploy_cfg, detector, inputs, path):
    """The RPN's proposals of ``detector`` on the batch ``inputs``, exported with the deploy
    config's rewrites (dynamic batch and size) and run in ONNX Runtime: one InstanceData
    (bboxes, scores, labels) per image, the rows that hold a proposal."""
    import onnxruntime
    from mmdeploy.apis.onnx import export as mmdeploy_export
    from mmdeploy.utils import get_backend, load_config
    from mmengine.structures import InstanceData
    deploy_cfg, = load_config(deploy_cfg)
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    mmdeploy_export(RPNProposals(detector).eval(), inputs, str(path)[:-5],
                    backend=get_backend(deploy_cfg).value,
                    context_info=dict(deploy_cfg=deploy_cfg), input_names=['input'],
                    output_names=['dets', 'labels'], opset_version=17,
                    dynamic_axes={'input': axes, 'dets': {0: 'batch', 1: 'num'},
                                  'labels': {0: 'batch', 1: 'num'}})
    session = onnxruntime.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    dets, _ = session.run(None, {'input': inputs.numpy()})
    out = []
    for rows in torch.from_numpy(dets):
        rows = rows[rows[:, 4] > -1]
        out.append(InstanceData(bboxes=rows[:, :4], scores=rows[:, 4],
                                labels=torch.zeros(len(rows), dtype=torch.long)))
    return out


# Redrawn so that the deployed post-processing has every case to get right: objectness around
# 0.05 (mmdeploy's RPN would drop what is below its score_threshold, 0.05), flat class scores
# (detections of a RoI's second and third class among the kept: each needs its own box) and
# regressions that make the classes' boxes differ; no score saturates at 1.0 (a tie NMS may
# break either way). MAX_PROPOSALS above what the RPN keeps: rows without a proposal.
TWO_STAGE_LAYERS = {'rpn_head.rpn_cls': (0.05, -3.0), 'roi_head.bbox_head.fc_cls': (0.01, 0.0),
                    'roi_head.bbox_head.fc_reg': (0.05, 0.0)}
TWO_STAGE_SHRINK = SHRINK + """
model.update(test_cfg=dict(rpn=dict(max_per_img=1000)))
"""


@SLOW  # about 25 s each: the fast part stays under 3 minutes
@pytest.mark.parametrize('shape', ['dynamic', 'static'])
def test_two_stage_detector_deploys_with_the_proposals_and_detections_of_pytorch(
        shape, repo_root, coco_root, tmp_path, tiny_config):
    """Mask R-CNN deployed = PyTorch: the RPN's proposals (one NMS per FPN level, as mmdet)
    and the final detections and masks (each class with its own box, one NMS per class), per
    image, all of them both ways; the RPN on a batch of two images and at other sizes too."""
    from mmdeploy.apis import build_task_processor
    cfg = tiny_config(tmp_path, 'mask_rcnn/litv2_s_1x_synthetic.py', TWO_STAGE_SHRINK)
    checkpoint = save_random_model(cfg, tmp_path / 'model.pth', TWO_STAGE_LAYERS)
    images = sorted(glob.glob(osp.join(coco_root, 'val', '*.jpg')))[:3]
    if shape == 'dynamic':  # and one that the test pipeline resizes to 150 x 192, padded to 160
        import cv2
        images.append(str(tmp_path / 'wide.jpg'))
        cv2.imwrite(images[-1], cv2.imread(images[0])[:200])
    deploy_cfg = deploy_config(repo_root, 'instance-seg', shape)
    files = export(deploy_cfg, cfg, checkpoint, images[0], str(tmp_path / 'onnx'))
    assert {d for d, _ in onnx_ops(files[0])} == {'ai.onnx'}

    pairs = predictions(deploy_cfg, cfg, files, checkpoint, images)
    if shape == 'dynamic':
        assert pairs[-1][1].img_shape == (150, 192) and pairs[-1][1].pad_shape == (160, 192)
    for deployed, pytorch in pairs:
        a, b = deployed.pred_instances, pytorch.pred_instances
        assert len(b) >= 20
        assert match_detections(a, b) == 1 and match_detections(b, a) == 1, (len(a), len(b))
        for i, j in matched_pairs(a, b):
            agree = (a.masks[i].bool() == b.masks[j].bool()).float().mean()
            assert agree >= MASK_AGREE, (i, j, float(agree))

    # the proposals: a batch of two preprocessed images, then other sizes (a dynamic graph)
    dynamic_cfg = deploy_config(repo_root, 'instance-seg', 'dynamic')
    processor = build_task_processor(*load_configs(dynamic_cfg, cfg)[::-1], 'cpu')
    detector = processor.build_pytorch_model(checkpoint)
    batch = torch.cat([detector.data_preprocessor(processor.create_input(img)[0])['inputs']
                       for img in images[:2]])
    path = tmp_path / 'rpn.onnx'
    for inputs in (batch, batch[:1, :, :160, :], batch[1:, :, :96, :128]):
        deployed = deployed_proposals(dynamic_cfg, detector, inputs, path)
        with torch.no_grad():
            head = detector.rpn_head
            metas = [dict(img_shape=tuple(inputs.shape[2:]))] * len(inputs)
            pytorch = head.predict_by_feat(*head(detector.extract_feat(inputs)),
                                           batch_img_metas=metas, rescale=False)
        for a, b in zip(deployed, pytorch):
            assert 100 <= len(b) < 1000 and len(a) == len(b), (len(a), len(b))
            assert match_detections(a, b) == 1 and match_detections(b, a) == 1
    if shape == 'dynamic':  # the whole graph on the batch: each image's outputs as alone
        import onnxruntime
        session = onnxruntime.InferenceSession(files[0], providers=['CPUExecutionProvider'])
        together = session.run(None, {'input': batch.numpy()})
        for i in range(len(batch)):
            alone = session.run(None, {'input': batch[i:i + 1].numpy()})
            dets, labels, masks = (out[i] for out in together)
            assert dets.shape == alone[0][0].shape and (dets[:, 4] > 0).sum() >= 20
            np.testing.assert_allclose(dets[:, :4], alone[0][0][:, :4], rtol=0, atol=BOX_TOL)
            np.testing.assert_allclose(dets[:, 4], alone[0][0][:, 4], rtol=0, atol=SCORE_TOL)
            assert (labels == alone[1][0]).all()
            np.testing.assert_allclose(masks, alone[2][0], rtol=0, atol=1e-3)


@pytest.mark.parametrize('shape', ['static', pytest.param('dynamic', marks=SLOW)])
def test_segmentor_deploys_with_the_class_maps_of_pytorch(shape, repo_root, ade_root, tmp_path,
                                                          tiny_config):
    cfg = tiny_config(tmp_path, 'sem_fpn/litv2_s_synthetic.py', SHRINK)
    checkpoint = save_random_model(cfg, tmp_path / 'model.pth',
                                   {'decode_head.conv_seg': (0.3, 0.0)})
    images = sorted(glob.glob(osp.join(ade_root, 'images', 'validation', '*.jpg')))[:3]
    deploy_cfg = deploy_config(repo_root, 'segmentation', shape)
    files = export(deploy_cfg, cfg, checkpoint, images[0], str(tmp_path / 'onnx'))
    ops = onnx_ops(files[0])
    assert ('ai.onnx', 'GridSample') in ops and {d for d, _ in ops} == {'ai.onnx'}, ops
    for deployed, pytorch in predictions(deploy_cfg, cfg, files, checkpoint, images):
        a, b = deployed.pred_sem_seg.data, pytorch.pred_sem_seg.data
        assert a.shape == b.shape
        assert len(b.unique()) > 1  # not one class everywhere
        top2 = pytorch.seg_logits.data.topk(2, dim=0).values
        assert (a == b).float().mean() >= PIXEL_AGREE
        # a pixel may differ only where PyTorch's two best classes are all but tied
        assert ((top2[0] - top2[1])[(a != b)[0]] <= LOGIT_TIE).all()


UPERNET_SHRINK = """
model = dict(backbone=dict(arch=dict(_delete_=True, **tiny_arch), drop_path_rate=0.),
             decode_head=dict(in_channels=tiny_widths, channels=64),
             auxiliary_head=dict(in_channels=tiny_widths[2], channels=32))
# every image at its own size (the sizes are the test's)
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale_factor=1.0),
                 dict(type='LoadAnnotations', reduce_zero_label=True),
                 dict(type='PackSegInputs')]
"""
# (height, width) of the UperNet test's images: the last feature map (stride 32) 4 x 4 (fewer
# rows than PPM's 6 bins), 5 x 5 (no bin count but 1 divides it), 6 x 6, 4 x 7, and a size
# that is no multiple of 32
UPERNET_SIZES = [(128, 128), (160, 160), (192, 192), (128, 224), (100, 150)]


def test_adaptive_average_pooling_as_matrix_products_is_pytorchs():
    from litv2_mm.deployment.exportable import adaptive_avg_pool2d
    torch.manual_seed(0)
    for h in (1, 2, 3, 4, 5, 6, 7, 11, 13, 25, 64):
        for w in (1, 4, 6, 9, 17):
            x = torch.randn(2, 3, h, w)
            for bins in (1, 2, 3, 6, (2, 5), (None, 3)):
                expected = torch.nn.functional.adaptive_avg_pool2d(x, bins)
                got = adaptive_avg_pool2d(x, bins)
                assert got.shape == expected.shape, (h, w, bins)
                torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


@pytest.mark.parametrize('shape', ['static', 'dynamic'])
def test_upernet_deploys_with_the_class_maps_of_pytorch(shape, repo_root, ade_root, tmp_path,
                                                        tiny_config):
    """UperNet's pyramid pooling (adaptive average pooling to 1, 2, 3, 6 bins) exports for
    maps those do not divide: static at 128 px (a 4 x 4 map), dynamic at every size of
    UPERNET_SIZES from one graph; the class maps are PyTorch's."""
    import cv2
    cfg = tiny_config(tmp_path, 'upernet/litv2_s_synthetic.py', UPERNET_SHRINK)
    checkpoint = save_random_model(cfg, tmp_path / 'model.pth',
                                   {'decode_head.conv_seg': (0.3, 0.0)})
    source = sorted(glob.glob(osp.join(ade_root, 'images', 'validation', '*.jpg')))
    sizes = UPERNET_SIZES if shape == 'dynamic' else UPERNET_SIZES[:1] * 2
    images = []
    for i, (h, w) in enumerate(sizes):
        images.append(str(tmp_path / f'{i}_{h}x{w}.jpg'))
        cv2.imwrite(images[-1], cv2.resize(cv2.imread(source[i]), (w, h)))
    deploy_cfg = deploy_config(repo_root, 'segmentation', shape)
    files = export(deploy_cfg, cfg, checkpoint, images[0], str(tmp_path / 'onnx'))
    assert {d for d, _ in onnx_ops(files[0])} == {'ai.onnx'}
    for (h, w), (deployed, pytorch) in zip(
            sizes, predictions(deploy_cfg, cfg, files, checkpoint, images)):
        a, b = deployed.pred_sem_seg.data, pytorch.pred_sem_seg.data
        assert a.shape == b.shape == (1, h, w)
        assert len(b.unique()) > 1
        top2 = pytorch.seg_logits.data.topk(2, dim=0).values
        assert (a == b).float().mean() >= PIXEL_AGREE, (h, w, float((a == b).float().mean()))
        assert ((top2[0] - top2[1])[(a != b)[0]] <= LOGIT_TIE).all(), (h, w)


@SLOW
@pytest.mark.parametrize('trained,task,metric,deploy', [
    ('trained_retinanet', 'detection', 'coco/bbox_mAP', 'onnxruntime_dynamic'),
    ('trained_sem_fpn', 'segmentation', 'mIoU', 'onnxruntime_static'),
    ('trained_upernet', 'segmentation', 'mIoU', 'onnxruntime_dynamic'),
    ('trained_retinanet', 'detection', 'coco/bbox_mAP', 'openvino-int8_dynamic'),
    ('trained_sem_fpn', 'segmentation', 'mIoU', 'openvino-int8_dynamic'),
    ('trained_upernet', 'segmentation', 'mIoU', 'openvino-int8_dynamic'),
    ('trained_retinanet', 'detection', 'coco/bbox_mAP', 'openvino-bf16_dynamic'),
    ('trained_upernet', 'segmentation', 'mIoU', 'openvino-bf16_dynamic'),
])
def test_deploy_tool_gives_the_metrics_of_pytorch(trained, task, metric, deploy, repo_root,
                                                  tmp_path, run_tool, request):
    """fp32 within 0.002, int8 (calibrated on 32 training images) and bf16 within 0.01 box
    AP and 0.5 points of mIoU (end2end.tolerances)."""
    from litv2_mm.deployment.end2end import LOW_PRECISION_TOL
    cfg, checkpoint, _ = request.getfixturevalue(trained)
    work = tmp_path / 'deploy'
    result = run_tool('deployment/deploy.py',
                      osp.join(repo_root, 'configs', 'deploy', f'{task}_{deploy}.py'), cfg,
                      checkpoint, '--work-dir', work, '--calib-images', '32', timeout=1200)
    out = result.stdout  # stdout and stderr merged
    backend = deploy.split('_')[0].replace('-', ' ')
    assert f'OK: every held metric of the {backend} model is within its tolerance' in out
    metrics = json.load(open(work / 'metrics.json'))
    deployed, pytorch = metrics[backend][metric], metrics['pytorch'][metric]
    tol = METRIC_TOL if backend == 'onnxruntime' else LOW_PRECISION_TOL[metric.split('/')[-1]]
    scale = 0.01 if metric == 'mIoU' else 1
    assert pytorch > 0 and abs(deployed - pytorch) * scale <= tol + 1e-9, (deployed, pytorch)
    name = backend.replace(' ', '-')
    for model in (name, 'pytorch'):  # mmseg's visualizer writes output_<model>_0.png
        pictures = glob.glob(str(work / f'output_{model}*'))
        assert pictures and all(osp.getsize(p) > 0 for p in pictures), model
        assert pictures[0] in out
    if 'int8' in deploy:
        assert osp.isfile(work / 'end2end_int8.xml')
        assert 'calibrated on 32 images of the model config\'s train split' in out


def test_metrics_are_compared_in_their_units():
    from litv2_mm.deployment.end2end import HELD_METRICS, compare_metrics
    fp32 = dict.fromkeys(HELD_METRICS, METRIC_TOL)
    rows = {row[0]: row[1:] for row in compare_metrics(
        {'coco/bbox_mAP': 0.063, 'coco/bbox_mAP_50': 0.224, 'mIoU': np.float32(76.2)},
        {'coco/bbox_mAP': 0.061, 'coco/bbox_mAP_50': 0.219, 'mIoU': np.float64(76.0),
         'coco/segm_mAP': 0.1}, fp32)}
    assert rows['coco/bbox_mAP'][3] is True  # 0.002 apart, rounded to 3 decimals: held, ok
    assert rows['coco/bbox_mAP_50'][3] is None  # shown, not held
    assert rows['mIoU'][3] is True  # 0.2 points = 0.002
    assert rows['coco/segm_mAP'][3] is False  # one side lacks it
    assert compare_metrics({'mIoU': 70.}, {'mIoU': 70.3}, fp32)[0][4] is False
    with pytest.raises(ValueError, match='no metric to compare'):
        compare_metrics({'coco/bbox_mAP_s': 0.1}, {'coco/bbox_mAP_s': 0.1}, fp32)


def test_bf16_and_int8_deployments_hold_ap_to_001_and_miou_to_half_a_point(repo_root):
    from mmdeploy.utils import load_config

    from litv2_mm.deployment.end2end import LOW_PRECISION_TOL, compare_metrics, tolerances
    model_cfg = load_tool_config(osp.join(repo_root, 'configs/mask_rcnn/litv2_s_1x_synthetic.py'))
    for name in ('instance-seg_openvino-int8_dynamic.py', 'instance-seg_openvino-bf16_dynamic.py'):
        deploy_cfg, = load_config(osp.join(repo_root, 'configs', 'deploy', name))
        assert tolerances(deploy_cfg, model_cfg) == LOW_PRECISION_TOL
        assert tolerances(deploy_cfg, model_cfg, 0.02) == dict.fromkeys(LOW_PRECISION_TOL, 0.02)
    rows = {row[0]: row[4] for row in compare_metrics(
        {'coco/bbox_mAP': 0.080, 'coco/segm_mAP': 0.078, 'coco/bbox_mAP_l': 0.3, 'mIoU': 75.6,
         'mAcc': 80.},
        {'coco/bbox_mAP': 0.089, 'coco/segm_mAP': 0.090, 'coco/bbox_mAP_l': 0.2, 'mIoU': 76.2,
         'mAcc': 83.}, LOW_PRECISION_TOL)}
    assert rows == {'coco/bbox_mAP': True, 'coco/segm_mAP': False, 'coco/bbox_mAP_l': None,
                    'mIoU': False, 'mAcc': None}
    deploy_cfg, = load_config(osp.join(repo_root, 'configs/deploy/'
                                                  'instance-seg_onnxruntime_dynamic.py'))
    assert set(tolerances(deploy_cfg, model_cfg).values()) == {METRIC_TOL}


def test_a_two_stage_detector_is_held_to_every_coco_metric():
    from mmengine.config import Config

    from litv2_mm.deployment.end2end import HELD_METRICS, compare_metrics, held_metrics
    two_stage = held_metrics(Config(dict(model=dict(rpn_head=dict(type='RPNHead')))))
    assert set(HELD_METRICS) < set(two_stage)
    assert {'bbox_mAP_50', 'bbox_mAP_75', 'segm_mAP_s', 'segm_mAP_m', 'segm_mAP_l'} < set(
        two_stage)
    assert held_metrics(Config(dict(model=dict(bbox_head=dict(type='RetinaHead'))))) == (
        HELD_METRICS)
    row, = compare_metrics({'coco/bbox_mAP_l': 0.351}, {'coco/bbox_mAP_l': 0.374},
                           dict.fromkeys(two_stage, METRIC_TOL))
    assert row[4] is False


def test_every_deploy_config_loads_with_the_rewrites(repo_root):
    from mmdeploy.utils import get_backend, get_codebase, get_ir_config, load_config
    paths = sorted(glob.glob(osp.join(repo_root, 'configs', 'deploy', '*.py')))
    assert len(paths) == 15
    for path in paths:
        cfg, = load_config(path)
        assert cfg.custom_imports['imports'] == ['litv2_mm.deployment.rewriters'], path
        assert get_ir_config(cfg)['opset_version'] == 17, path
        name = osp.basename(path)
        backend = name.split('_')[1]
        assert get_backend(cfg).value == backend.split('-')[0], path
        if backend.startswith('openvino'):
            assert precision(cfg) == (backend.split('-') + ['fp32'])[1], path
        assert get_codebase(cfg).value == ('mmseg' if name.startswith('segmentation')
                                           else 'mmdet'), path
        dynamic = 'dynamic' in name
        assert ('dynamic_axes' in get_ir_config(cfg)) == dynamic, path
