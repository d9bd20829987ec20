"""CPU inference speed-ups of LITv2: the same function as the model, computed in cache-sized
chunks, in fp32 or (under CPU autocast to bf16) in bf16.

A CPU has no caching allocator: every buffer above glibc's mmap threshold (32 MB) is fresh
memory whose page faults cost about as much as the arithmetic on it, and a buffer that
outgrows the last-level cache is streamed from memory again by every following op. So
without autograd the layers whose work is independent per image or per row run in chunks
whose widest intermediate holds at most ``chunk_elements`` elements (2**21, 8 MB in fp32):

* HiLo attention a few images at a time (every image attends only to itself);
* the second half of a block, ``x + ConvFFN(LayerNorm(x))``, a few images or a band of rows
  of one image at a time (the 3x3 depthwise conv takes a one-row halo from the neighbouring
  bands), with the depthwise conv and GELU fused into one oneDNN kernel and fc2 writing
  straight into the output, to which the residual is added.

Under ``torch.autocast('cpu', dtype=torch.bfloat16)`` (``--dtype bf16`` of the tools,
mmengine's ``test_cfg=dict(fp16=True)`` on a CPU) the chunks run their GEMMs and the fused
conv + GELU in bf16 with explicit casts, while the residual stream and LayerNorm stay fp32
as autocast keeps them; the attention runs under autocast. Autocast's own fp16 runs the
plain model.

Switched on in one place per layer: ``HiLoAttention.forward`` and ``LITv2Block.forward``
call this module where :func:`compute_dtype` says so, so that every user of the model
(tools, inferencers, user code) gets the speed-ups with nothing to call. Everywhere else
(autograd, GPUs, fp16, tracing for ONNX export or FLOP counting) the plain model runs.
:func:`set_cpu_speedups` (or ``LITV2_CPU_SPEEDUPS=0`` in the environment) turns them off.
"""
import contextlib
import os

import torch
import torch.nn.functional as F

CHUNK_ELEMENTS = 2 ** 21

# whether this PyTorch has oneDNN's conv with a pointwise post-op
_FUSED_CONV_GELU = (torch.backends.mkldnn.is_available()
                    and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))

_enabled = os.environ.get('LITV2_CPU_SPEEDUPS', '1').strip().lower() not in ('0', 'false', 'no')


def set_cpu_speedups(enable=True):
    """Turn the CPU inference speed-ups on (the default) or off for every LITv2 in this
    process (as timm's ``set_fused_attn``); returns the previous setting."""
    global _enabled
    previous, _enabled = _enabled, bool(enable)
    return previous


@contextlib.contextmanager
def cpu_speedups(enable):
    """``with cpu_speedups(False): ...`` runs the plain model inside the block."""
    previous = set_cpu_speedups(enable)
    try:
        yield
    finally:
        set_cpu_speedups(previous)


def cpu_speedups_enabled():
    return _enabled


def native_bf16():
    """Whether this CPU computes bf16 natively (avx512_bf16 or AMX), where bf16 inference is
    faster than fp32; elsewhere oneDNN emulates it and it is slower."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = next((line for line in f if line.startswith('flags')), '').split()
    except OSError:
        return False
    return 'avx512_bf16' in flags or 'amx_bf16' in flags


def compute_dtype(x, module):
    """The dtype in which the speed-ups compute ``module``'s forward on ``x``, or None where
    the plain model runs. They apply to CPU inference (no autograd: the chunks are written
    into preallocated buffers) of a module in eval mode (dropout and drop path off), not
    under a tracer (which should record the plain ops): in fp32 for an fp32 ``x`` without
    autocast, in bf16 under CPU autocast to bf16."""
    if (not _enabled or torch.is_grad_enabled() or module.training or x.device.type != 'cpu'
            or torch.jit.is_tracing() or x.dtype != torch.float32):
        return None
    if not torch.is_autocast_enabled('cpu'):
        return torch.float32
    return torch.bfloat16 if torch.get_autocast_dtype('cpu') == torch.bfloat16 else None


def images_per_chunk(elements_per_image, chunk_elements=CHUNK_ELEMENTS):
    """How many images whose widest intermediate has ``elements_per_image`` elements fit in
    one chunk (at least 1)."""
    return max(1, chunk_elements // max(1, elements_per_image))


def hilo_by_image_groups(attn, x, chunk_elements=CHUNK_ELEMENTS):
    """``attn.hilo(x)`` for a HiLoAttention ``attn``, a group of images at a time.
    x: (B, Hp, Wp, C) padded map -> (B, Hp, Wp, C)."""
    B, Hp, Wp, C = x.shape
    widest = max(3 * attn.h_dim + attn.l_dim, 2 * C)  # the fused q/k/v GEMM or Lo-Fi k/v
    group = images_per_chunk(Hp * Wp * widest, chunk_elements)
    if group >= B:
        return attn.hilo(x)
    first = attn.hilo(x[:group])
    out = first.new_empty(x.shape)
    out[:group] = first
    for b in range(group, B, group):
        out[b:b + group] = attn.hilo(x[b:b + group])
    return out


def ffn_residual(x, norm, ffn, H, W, chunk_elements=CHUNK_ELEMENTS, dtype=torch.float32):
    """``x + ffn(norm(x), H, W)`` for a ConvFFN ``ffn`` and a LayerNorm ``norm``, chunk by
    chunk: groups of whole images, or bands of rows of one large image. fc1, the depthwise
    conv + GELU and fc2 compute in ``dtype`` (fp32 or bf16); ``x``, the LayerNorm and the
    residual sum stay fp32. x: (B, H*W, C) fp32 -> a new (B, H*W, C) fp32 tensor."""
    x = x.contiguous()
    B, N, C = x.shape
    hidden = ffn.fc1.out_features
    out = torch.empty_like(x)
    rows = chunk_elements // (W * hidden)
    with torch.autocast('cpu', enabled=False):  # explicit dtypes below
        fcs = [t.to(dtype) for t in (ffn.fc1.weight, ffn.fc1.bias, ffn.fc2.weight, ffn.fc2.bias)]
        if rows >= H:  # whole images, as many per chunk as fit
            group = images_per_chunk(N * hidden, chunk_elements)
            for b in range(0, B, group):
                xs = x[b:b + group].view(-1, C)
                h = torch.addmm(fcs[1], norm(xs).to(dtype), fcs[0].t())
                _conv_gelu_fc2(ffn, fcs, h.view(-1, H, W, hidden), (1, 1), out[b:b + group], xs)
        else:
            for b in range(B):
                _row_bands(x[b], norm, ffn, fcs, out[b], H, W, max(rows, 2))
    return out


def _row_bands(x, norm, ffn, fcs, out, H, W, rows):
    """One image, ``rows`` output rows at a time. x: (H*W, C) -> out: (H*W, C).

    ``buf`` holds fc1's output for image rows r0 - 1 .. r1 (zeros outside the image); the two
    rows the next band shares with this one move to its top instead of being recomputed.
    """
    w1, b1 = fcs[:2]
    hidden = w1.shape[0]
    buf = x.new_empty((rows + 2) * W, hidden, dtype=w1.dtype)
    buf[:W].zero_()  # the zero row above the image
    filled = 1
    for r0 in range(0, H, rows):
        r1 = min(r0 + rows, H)
        if r0 > 0:
            buf[:2 * W].copy_(buf[(filled - 2) * W:filled * W])
            filled = 2
        first, stop = r0 - 1 + filled, min(r1 + 1, H)  # image rows fc1 still has to do
        if stop > first:
            torch.addmm(b1, norm(x[first * W:stop * W]).to(w1.dtype), w1.t(),
                        out=buf[filled * W:(filled + stop - first) * W])
            filled += stop - first
        if r1 == H:  # the zero row below the image
            buf[filled * W:(filled + 1) * W].zero_()
        band = buf[:(r1 - r0 + 2) * W].view(1, r1 - r0 + 2, W, hidden)
        _conv_gelu_fc2(ffn, fcs, band, (0, 1), out[r0 * W:r1 * W], x[r0 * W:r1 * W])


def _conv_gelu_fc2(ffn, fcs, h, padding, out, residual):
    """h: (b, rows, W, hidden) fc1 output -> depthwise conv (``padding``), GELU, fc2 (weight
    and bias ``fcs[2:]``, in h's dtype) plus ``residual`` into the fp32 ``out``."""
    w2, b2 = fcs[2:]
    h = conv_gelu_channels_last(h.permute(0, 3, 1, 2), ffn.dwconv.dwconv, padding)
    h = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
    out = out.view(-1, out.shape[-1])
    if h.dtype == out.dtype:  # fc2 writes straight into the output
        torch.addmm(b2, h, w2.t(), out=out)
        out.add_(residual.view_as(out))
    else:
        torch.add(residual.view_as(out), torch.addmm(b2, h, w2.t()), out=out)


def conv_gelu_channels_last(x, conv, padding, fused=_FUSED_CONV_GELU):
    """``gelu(conv(x))`` (exact erf GELU) for a CPU fp32 or bf16 NCHW ``x`` with
    channels-last strides, in x's dtype; the output has channels-last strides too.

    ``fused`` (default: where PyTorch has oneDNN): one kernel applies GELU as the conv's
    post-op while the output is still in cache (``torch.ops.mkldnn._convolution_pointwise``,
    what inductor emits for this pattern); otherwise conv, then GELU in place.
    """
    weight, bias = conv.weight.to(x.dtype), conv.bias.to(x.dtype)
    if fused:
        return torch.ops.mkldnn._convolution_pointwise(
            x, weight, bias, list(padding), list(conv.stride), list(conv.dilation),
            conv.groups, 'gelu', [None], 'none')
    y = F.conv2d(x, weight, bias, conv.stride, padding, conv.dilation, conv.groups)
    return torch.ops.aten.gelu_(y)
