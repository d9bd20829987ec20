"""mmcv's compiled ops in this environment, for tools/setup_env.sh (run with the venv's python).

    python tools/check_mmcv_ops.py

Prints on stderr whether mmcv was built with CUDA ops and whether torch sees a GPU, and on
stdout one word for the set-up:

- ``rebuild``: a GPU is visible but mmcv has no CUDA ops (built on a machine without a GPU,
  or a CPU-only wheel from pip's cache): mmcv must be rebuilt with ``FORCE_CUDA=1``;
- ``mmcv_cuda=yes`` / ``mmcv_cuda=no`` (the line the set-up's stamp records): nms, roi_align
  and deform_conv2d run on the CPU and agree with torchvision's, and where a GPU is visible
  they also run on CUDA and agree with the CPU.

Exits with 1, naming the op, when one of them fails or disagrees.
"""
import sys

import torch

NOT_AVAILABLE = 'not available'  # mmcv.ops.get_compiling_cuda_version() of a CPU-only build


class OpFailure(Exception):
    pass


def has_cuda_ops(mmcv_cuda_version):
    """Whether mmcv was compiled with CUDA, from ``mmcv.ops.get_compiling_cuda_version()``."""
    return NOT_AVAILABLE not in mmcv_cuda_version


def needs_cuda_rebuild(gpu_visible, mmcv_cuda_version):
    """A GPU is visible to torch but mmcv has no CUDA ops: its first RoIAlign on CUDA fails."""
    return gpu_visible and not has_cuda_ops(mmcv_cuda_version)


def fixed_inputs():
    """Boxes and scores for nms, a feature map, RoIs, offsets and a 2x2 weight."""
    g = torch.Generator().manual_seed(0)
    return dict(boxes=torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]]),
                scores=torch.tensor([0.9, 0.8, 0.7]), feat=torch.randn(1, 4, 8, 8, generator=g),
                rois=torch.tensor([[0., 0.5, 1., 6., 7.], [0., 2., 2.5, 7.5, 5.]]),
                offset=torch.randn(1, 8, 4, 4, generator=g),
                weight=torch.randn(8, 4, 2, 2, generator=g))


def op_results(device):
    """{op: result, on the CPU} of mmcv's nms, roi_align and deform_conv2d run on ``device``
    on ``fixed_inputs()``; an op that raises is named."""
    from mmcv import ops
    t = {k: v.to(device) for k, v in fixed_inputs().items()}
    calls = {
        'nms': lambda: ops.nms(t['boxes'], t['scores'], 0.5)[1],
        'roi_align': lambda: ops.roi_align(t['feat'], t['rois'], (2, 2), 1.0, 2, 'avg', True),
        'deform_conv2d': lambda: ops.deform_conv2d(t['feat'], t['offset'], t['weight'], 2),
    }
    results = {}
    for name, call in calls.items():
        try:
            results[name] = call().cpu()
        except Exception as e:  # the op's own error, whatever its type
            raise OpFailure(f'mmcv op {name} fails on {device}: {type(e).__name__}: {e}')
    return results


def torchvision_results():
    """torchvision's nms, roi_align and deform_conv2d on ``fixed_inputs()``."""
    from torchvision import ops
    t = fixed_inputs()
    return {'nms': ops.nms(t['boxes'], t['scores'], 0.5),
            'roi_align': ops.roi_align(t['feat'], t['rois'], (2, 2), 1.0, 2, True),
            'deform_conv2d': ops.deform_conv2d(t['feat'], t['offset'], t['weight'], stride=2)}


def compare(results, expected, what):
    """Raise OpFailure naming the first op whose result differs from ``expected``."""
    for name, ref in expected.items():
        out = results[name]
        if out.shape != ref.shape or not torch.allclose(out.to(ref.dtype), ref, rtol=1e-4,
                                                        atol=1e-4):
            raise OpFailure(f'mmcv op {name} {what}: {out.flatten()[:6].tolist()} instead of '
                            f'{ref.flatten()[:6].tolist()}')


def say(msg):
    print(f'[setup] {msg}', file=sys.stderr, flush=True)


def main():
    import mmcv
    import mmcv.ops
    version = mmcv.ops.get_compiling_cuda_version()
    gpu = torch.cuda.is_available()
    say(f'mmcv {mmcv.__version__} CUDA ops: '
        f'{f"yes (CUDA {version})" if has_cuda_ops(version) else "no (CPU-only build)"}'
        f' | GPU visible to torch: {"yes" if gpu else "no"}')
    if needs_cuda_rebuild(gpu, version):
        print('rebuild')
        return 0
    try:
        cpu = op_results('cpu')
        compare(cpu, torchvision_results(), "on the CPU differs from torchvision's")
        if gpu:
            compare(op_results('cuda'), cpu, 'on CUDA differs from the CPU')
    except OpFailure as e:
        say(f'FAILED: {e}')
        return 1
    say(f'mmcv ops OK (nms, roi_align, deform_conv2d) on {"CPU and CUDA" if gpu else "CPU"}')
    print(f'mmcv_cuda={"yes" if has_cuda_ops(version) else "no"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
