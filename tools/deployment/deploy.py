"""Deploy a whole LITv2 detector or segmentor with mmdeploy, and check it against PyTorch.

    python tools/deployment/deploy.py DEPLOY_CFG MODEL_CFG CHECKPOINT [--img IMG]
        [--work-dir DIR] [--data-root DIR] [--show-dir DIR] [--tol TOL] [--no-eval]
        [--calib-images 128] [--calib-split train] [--trust-checkpoint] [--cfg-options k=v ...]

    # e.g. the demo's Mask R-CNN, dynamic shapes, ONNX Runtime on the CPU
    python tools/deployment/deploy.py configs/deploy/instance-seg_onnxruntime_dynamic.py \
        configs/mask_rcnn/litv2_s_1x_synthetic.py work_dirs/demo_mask_rcnn_litv2_s/iter_220.pth

    # int8 (OpenVINO + NNCF, calibrated on 128 training images) or bf16, held to 0.01 box AP
    python tools/deployment/deploy.py configs/deploy/instance-seg_openvino-int8_dynamic.py \
        configs/mask_rcnn/litv2_s_1x_synthetic.py work_dirs/demo_mask_rcnn_litv2_s/iter_220.pth

It runs what mmdeploy's tools/deploy.py and tools/test.py run, in one process: the ONNX
export traced on IMG (default: the first test image) and the backend conversion into the
work dir (``end2end.onnx``; OpenVINO: ``end2end.xml``, int8: then quantized with NNCF into
``end2end_int8.xml``, calibrated on --calib-images images of the model config's
--calib-split through its test pipeline), pictures of the deployed and of the PyTorch
model's predictions on IMG, then the model config's evaluator (COCO box / mask AP, mIoU) on
its test set, once for the deployed model and once for the PyTorch model, side by side. It
exits with status 1 when a held metric differs by more than its tolerance
(litv2_mm.deployment.end2end.tolerances):
fp32 deployments hold box AP, mask AP, mIoU, mAcc, aAcc, and for a two-stage detector
(Mask R-CNN) AP50, AP75 and the COCO size breakdown too, to 0.002 (for a one-stage detector
those are shown, not held); bf16 and int8 deployments hold box AP and mask AP to 0.01 and
mIoU to 0.5 points. --tol replaces every tolerance.
mmdeploy's own tools take the same two configs.
"""
import argparse
import json
import os
import os.path as osp
import sys

from mmengine.config import DictAction

from litv2_mm.apis import init_model
from litv2_mm.checkpoint import TRUSTED_PREFIX, check_checkpoint_file
from litv2_mm.config import load_tool_config
from litv2_mm.deployment.end2end import (compare_metrics, draw, evaluate, export, first_test_image,
                                         load_configs, precision, tolerances)
from litv2_mm.deployment.quantize import CALIB_IMAGES, CALIB_SPLIT


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('deploy_cfg', help='deploy config (configs/deploy/...)')
    parser.add_argument('model_cfg', help='mmdet / mmseg config of the model')
    parser.add_argument('checkpoint', help='checkpoint of the model')
    parser.add_argument('--img', help='image the export is traced on and the pictures show '
                                      '(default: the first test image)')
    parser.add_argument('--work-dir', help='where the backend files, pictures and metrics go '
                                           '(default work_dirs/deploy/<deploy cfg>_<model cfg>)')
    parser.add_argument('--data-root', help='point every dataset and evaluator at this root')
    parser.add_argument('--show-dir', help='also draw the deployed model\'s predictions on '
                                           'every test image into this directory')
    parser.add_argument('--tol', type=float,
                        help='largest allowed |deployed - PyTorch| of every held metric, a '
                             'fraction (0.005 = half a point of mIoU); default: 0.002 for fp32, '
                             '0.01 box / mask AP and 0.005 mIoU for bf16 and int8')
    parser.add_argument('--calib-images', type=int, default=CALIB_IMAGES,
                        help=f'int8: number of calibration images (default {CALIB_IMAGES}; '
                             f'all of the split when it has fewer)')
    parser.add_argument('--calib-split', default=CALIB_SPLIT, choices=['train', 'val', 'test'],
                        help=f'int8: the split of the model config whose images calibrate '
                             f'(<split>_dataloader, default {CALIB_SPLIT})')
    parser.add_argument('--no-eval', action='store_true',
                        help='export and draw only, no evaluation on the test set')
    parser.add_argument('--device', default='cpu', help='device of the export and of PyTorch')
    parser.add_argument('--trust-checkpoint', action='store_true',
                        help='allow pickled objects in CHECKPOINT (only for files you trust)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings of the model config, key=value')
    args = parser.parse_args(argv)
    for name in ('deploy_cfg', 'model_cfg'):
        if not osp.isfile(getattr(args, name)):
            parser.error(f'{name.upper()} not found: {getattr(args, name)}')
    if args.img and not osp.isfile(args.img):
        parser.error(f'--img not found: {args.img}')
    if args.tol is not None and args.tol < 0:
        parser.error(f'--tol must be >= 0, got {args.tol}')
    if args.calib_images < 1:
        parser.error(f'--calib-images must be >= 1, got {args.calib_images}')
    return args


def print_table(rows, backend):
    width = max(len(r[0]) for r in rows)
    print(f'{"metric":<{width}}  {backend:>12}  {"PyTorch":>10}  {"|diff|":>8}')
    for name, a, b, diff, ok in rows:
        fmt = lambda v: f'{v:.4f}' if isinstance(v, float) else str(v)  # noqa: E731
        note = {True: '', False: '  <- differs', None: '  (not held)'}[ok]
        print(f'{name:<{width}}  {fmt(a):>12}  {fmt(b):>10}  {diff:>8.4f}{note}')


def format_tolerances(tolerance):
    return ', '.join(f'{name} {value:g}' for name, value in tolerance.items())


def main(argv=None):
    args = parse_args(argv)
    check_checkpoint_file(args.checkpoint)
    name = (f'{osp.splitext(osp.basename(args.deploy_cfg))[0]}_'
            f'{osp.splitext(osp.basename(args.model_cfg))[0]}')
    work_dir = osp.abspath(args.work_dir or osp.join('work_dirs', 'deploy', name))
    os.makedirs(work_dir, exist_ok=True)
    model_cfg = load_tool_config(args.model_cfg, data_root=args.data_root,
                                 cfg_options=args.cfg_options, work_dir=work_dir)
    deploy_cfg, model_cfg = load_configs(args.deploy_cfg, model_cfg)
    # A checkpoint that does not fit the model fails here, naming the keys, before the export.
    init_model(model_cfg, args.checkpoint, trusted=args.trust_checkpoint)
    checkpoint = (TRUSTED_PREFIX if args.trust_checkpoint else '') + args.checkpoint
    img = args.img or first_test_image(model_cfg)
    backend = deploy_cfg.backend_config.type
    tolerance = tolerances(deploy_cfg, model_cfg, args.tol)  # a bad precision fails here
    if precision(deploy_cfg) != 'fp32':
        backend = f'{backend} {precision(deploy_cfg)}'

    files = export(deploy_cfg, model_cfg, checkpoint, img, work_dir, device=args.device,
                   calib_images=args.calib_images, calib_split=args.calib_split)
    print(f'exported {args.model_cfg} for {backend}: {", ".join(files)}')
    name = backend.replace(' ', '-')
    pictures = [draw(deploy_cfg, model_cfg, img, osp.join(work_dir, f'output_{name}.jpg'),
                     backend_files=files),
                draw(deploy_cfg, model_cfg, img, osp.join(work_dir, 'output_pytorch.jpg'),
                     checkpoint=checkpoint, device=args.device)]
    print(f'pictures of the predictions on {img}: {", ".join(pictures)}')
    if args.no_eval:
        return 0

    deployed = evaluate(deploy_cfg, model_cfg, osp.join(work_dir, 'eval_' + name),
                        backend_files=files, show_dir=args.show_dir)
    pytorch = evaluate(deploy_cfg, model_cfg, osp.join(work_dir, 'eval_pytorch'),
                       checkpoint=checkpoint, device=args.device)
    rows = compare_metrics(deployed, pytorch, tolerance)
    print_table(rows, backend)
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump({'deploy_cfg': args.deploy_cfg, 'model_cfg': args.model_cfg,
                   'checkpoint': args.checkpoint, backend: deployed, 'pytorch': pytorch,
                   'tolerances': tolerance}, f, indent=1, default=float)  # numpy scalars
    failed = [row[0] for row in rows if row[4] is False]
    if failed:
        print(f'FAILED: {", ".join(failed)} differ by more than their tolerance '
              f'({format_tolerances(tolerance)})', file=sys.stderr)
        return 1
    held = ', '.join(row[0] for row in rows if row[4])
    print(f'OK: every held metric of the {backend} model is within its tolerance of PyTorch '
          f'({held}; {format_tolerances(tolerance)})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
