"""Deployed speed against litv2_mm's PyTorch path: the LITv2 backbone and a whole detector,
in ONNX Runtime and OpenVINO beside PyTorch, one run, interleaved, as ratios.

    python tools/analysis/deploy_benchmark.py                      # LITv2-S + RetinaNet
    python tools/analysis/deploy_benchmark.py --arch small --shape 224 224 --batch 1 \
        --detector configs/retinanet/litv2_s_1x.py --detector-shape 800 1280 \
        --runtimes onnxruntime openvino --runs 10 --warmup 3

Backbone rows: ``LITv2`` (four stage outputs) in PyTorch fp32 and bf16 autocast (litv2_mm's
CPU fast path, where the CPU has native bf16), then its ONNX export
(``litv2_mm.deployment.export_onnx``) in each runtime, fp32. Detector rows: the whole
detector of ``--detector`` (random weights, seeded; ``--checkpoint`` to load one), exported
end to end by mmdeploy with ``configs/deploy/detection_onnxruntime_dynamic.py``
(box decoding and NMS inside the graph): ``test_step`` of the PyTorch detector and of
mmdeploy's ONNX Runtime model on the same data (the data preprocessor, the model, NMS, the
boxes rescaled: what a user's call costs), then the exported graph alone in each runtime.
Every runtime gets torch's thread count. A column gives each row's largest difference from
PyTorch fp32 on the timed input (backbone: the stage outputs; detector: the boxes).
"""
import argparse
import os
import os.path as osp
import statistics
import sys

import numpy as np
import torch

from litv2_mm.analysis.benchmark import machine_info, time_interleaved
from litv2_mm.analysis.model_specs import DEFAULT_SHAPES
from litv2_mm.apis import init_model
from litv2_mm.config import load_config
from litv2_mm.deployment.onnx import export_onnx
from litv2_mm.deployment.runtimes import (onnxruntime_session, openvino_model, run_onnxruntime,
                                          run_openvino)
from litv2_mm.models.cpu_inference import cpu_bf16

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEPLOY_CFG = osp.join(REPO, 'configs', 'deploy', 'detection_onnxruntime_dynamic.py')
DETECTOR = osp.join(REPO, 'configs', 'retinanet', 'litv2_s_1x.py')
RUNTIMES = ('onnxruntime', 'openvino')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--arch', default='small', choices=['small', 'medium', 'base'],
                        help='LITv2 of the backbone rows (default small)')
    parser.add_argument('--shape', type=int, nargs=2, default=[224, 224], metavar=('H', 'W'),
                        help='backbone input (default 224 224)')
    parser.add_argument('--batch', type=int, default=1, help='backbone batch (default 1)')
    parser.add_argument('--detector', default=DETECTOR,
                        help='mmdet config of the detector rows (default: RetinaNet LITv2-S)')
    parser.add_argument('--checkpoint', help='weights of the detector (default: random, seeded)')
    parser.add_argument('--detector-shape', type=int, nargs=2, metavar=('H', 'W'),
                        default=list(DEFAULT_SHAPES['detector']),
                        help='detector input after its test pipeline (default %(default)s)')
    parser.add_argument('--no-backbone', action='store_true')
    parser.add_argument('--no-detector', action='store_true')
    parser.add_argument('--runtimes', nargs='+', choices=RUNTIMES, default=list(RUNTIMES))
    parser.add_argument('--runs', type=int, default=10, help='timed iterations per row')
    parser.add_argument('--warmup', type=int, default=3, help='untimed iterations per row')
    parser.add_argument('--work-dir', default=osp.join('work_dirs', 'deploy_benchmark'),
                        help='where the ONNX files go')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    for name in ('shape', 'detector_shape'):
        if min(getattr(args, name)) < 32:
            parser.error(f'--{name.replace("_", "-")} sides must be >= 32, '
                         f'got {getattr(args, name)}')
    if args.batch < 1 or args.runs < 1 or args.warmup < 0:
        parser.error('--batch and --runs must be >= 1, --warmup >= 0')
    if args.no_backbone and args.no_detector:
        parser.error('--no-backbone and --no-detector leave nothing to measure')
    if not osp.isfile(args.detector):
        parser.error(f'--detector not found: {args.detector}')
    return args


def max_diff(reference, outputs):
    """Largest |a - b| over the outputs of two rows (0 for empty outputs: no detections)."""
    return max((float(np.abs(np.asarray(r) - np.asarray(o)).max()) if np.size(r) else 0.)
               for r, o in zip(reference, outputs))


def runtime_runner(runtime, path):
    """``run({name: array}) -> [arrays]`` of ``path`` in ``runtime``."""
    if runtime == 'onnxruntime':
        session = onnxruntime_session(path)
        return lambda inputs: run_onnxruntime(session, inputs)
    compiled = openvino_model(path)
    return lambda inputs: run_openvino(compiled, inputs)


def available(runtimes):
    """The runtimes that import here; a note for each one that does not."""
    usable = []
    for runtime in runtimes:
        try:
            __import__(runtime)
            usable.append(runtime)
        except ImportError as e:
            print(f'[deploy_benchmark] skipping {runtime}: {e}', file=sys.stderr)
    return usable


def backbone_rows(args, runtimes):
    """{row name: (step, outputs of the step's last call as numpy)} for the backbone."""
    torch.manual_seed(args.seed)
    model = init_model(args.arch).eval()
    x = torch.randn(args.batch, 3, *args.shape)
    names = [f'out{i}' for i in model.out_indices]
    path = osp.join(args.work_dir, f'{args.arch}_{args.shape[0]}x{args.shape[1]}.onnx')
    export_onnx(model, path, names, input_size=tuple(args.shape))

    def torch_step(dtype):
        def step():
            with torch.no_grad(), torch.autocast('cpu', torch.bfloat16, enabled=dtype == 'bf16'):
                return [o.float().numpy() for o in model(x)]
        return step

    rows = {'PyTorch fp32': torch_step('fp32')}
    if cpu_bf16() == 'native':
        rows['PyTorch bf16 autocast'] = torch_step('bf16')
    feed = {'input': x.numpy()}
    for runtime in runtimes:
        run = runtime_runner(runtime, path)
        rows[f'{runtime} fp32'] = lambda run=run: run(feed)
    return rows


def detector_rows(args, runtimes):
    """{row name: step} for the whole detector; each step returns its boxes (N, 4)."""
    from mmdeploy.apis import build_task_processor

    from litv2_mm.deployment.end2end import export, load_configs
    cfg = load_config(args.detector)
    checkpoint = args.checkpoint
    if checkpoint is None:
        torch.manual_seed(args.seed)
        model = init_model(cfg)
        checkpoint = osp.join(args.work_dir, 'detector_random.pth')
        torch.save({'state_dict': model.state_dict()}, checkpoint)
    work_dir = osp.join(args.work_dir, 'detector')
    h, w = args.detector_shape
    # an image the test pipeline keeps at its size (or resizes to the asked input)
    image = np.random.default_rng(args.seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    deploy_cfg, model_cfg = load_configs(DEPLOY_CFG, cfg)
    files = export(deploy_cfg, model_cfg, checkpoint, image, work_dir)
    processor = build_task_processor(model_cfg, deploy_cfg, 'cpu')
    pytorch = processor.build_pytorch_model(checkpoint)
    deployed = processor.build_backend_model(
        files, data_preprocessor_updater=processor.update_data_preprocessor)
    data, inputs = processor.create_input(image, data_preprocessor=pytorch.data_preprocessor)
    raw, _ = processor.create_input(image)

    def test_step(model):
        def step():
            with torch.no_grad():
                return [model.test_step(raw)[0].pred_instances.bboxes.numpy()]
        return step

    shape = 'x'.join(map(str, inputs.shape[-2:]))
    boxes = len(test_step(pytorch)()[0])
    print(f'[deploy_benchmark] detector input after the test pipeline: {shape}; '
          f'{boxes} boxes kept', file=sys.stderr)
    rows = {'PyTorch test_step': test_step(pytorch),
            'onnxruntime test_step (mmdeploy)': test_step(deployed)}
    feed = {'input': inputs.numpy()}
    for runtime in runtimes:
        run = runtime_runner(runtime, files[0])
        rows[f'{runtime} graph only'] = lambda run=run: [run(feed)[0][0, :, :4]]
    return rows, shape


def measure(rows, args):
    """{name: step} -> [(name, median seconds, max diff vs the first row's output)]."""
    first = next(iter(rows.values()))()
    diffs = {}
    for name, step in rows.items():
        out = step()
        diffs[name] = max_diff(first, out) if [o.shape for o in out] == [
            o.shape for o in first] else float('nan')
    times = time_interleaved(rows, args.runs, args.warmup, 'cpu')
    return [(name, statistics.median(times[name]), diffs[name]) for name in rows]


def format_rows(title, results, batch):
    base = results[0][1]
    lines = [f'| {title} | ms/iter | imgs/s | speed vs first | max abs diff vs first |',
             '|---|---|---|---|---|']
    for name, seconds, diff in results:
        lines.append(f'| {name} | {seconds * 1e3:.1f} | {batch / seconds:.2f} | '
                     f'{base / seconds:.2f}x | {diff:.1e} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.work_dir, exist_ok=True)
    runtimes = available(args.runtimes)
    tables = []
    if not args.no_backbone:
        rows = backbone_rows(args, runtimes)
        shape = f'{args.shape[0]}x{args.shape[1]}'
        tables.append(format_rows(f'LITv2 {args.arch} backbone, {shape}, batch {args.batch}',
                                  measure(rows, args), args.batch))
    if not args.no_detector:
        rows, shape = detector_rows(args, runtimes)
        name = osp.splitext(osp.basename(args.detector))[0]
        tables.append(format_rows(f'{name} (whole detector), {shape}, batch 1',
                                  measure(rows, args), 1))
    print(machine_info('cpu'))
    print(f'median of {args.runs} interleaved runs after {args.warmup} warm-up')
    for table in tables:
        print()
        print(table)
    return 0


if __name__ == '__main__':
    sys.exit(main())
