"""CPU inference speed-ups of LITv2: the same function as the model, computed in cache-sized
chunks.

A CPU has no caching allocator: every buffer above glibc's mmap threshold (32 MB) is fresh
memory whose page faults cost about as much as the arithmetic on it, and a buffer that
outgrows the last-level cache is streamed from memory again by every following op. So
without autograd the layers whose work is independent per image or per row run in chunks
whose widest intermediate holds at most ``chunk_elements`` elements (2**21, 8 MB in fp32):

* HiLo attention a few images at a time (every image attends only to itself);
* the second half of a block, ``x + ConvFFN(LayerNorm(x))``, a few images or a band of rows
  of one image at a time (the 3x3 depthwise conv takes a one-row halo from the neighbouring
  bands), with the depthwise conv and GELU fused into one oneDNN kernel and fc2 writing
  straight into the output, to which the residual is added in place.

Switched on in one place per layer: ``HiLoAttention.forward`` and ``LITv2Block.forward``
call this module where :func:`applies` says so, so that every user of the model (tools,
inferencers, user code) gets the speed-ups with nothing to call. Everywhere else (autograd,
GPUs, autocast, tracing for ONNX export or FLOP counting) the plain model runs.
"""
import torch
import torch.nn.functional as F

CHUNK_ELEMENTS = 2 ** 21

# whether this PyTorch has oneDNN's conv with a pointwise post-op
_FUSED_CONV_GELU = (torch.backends.mkldnn.is_available()
                    and hasattr(torch.ops.mkldnn, '_convolution_pointwise'))


def applies(x, module):
    """Whether the speed-ups compute ``module``'s forward on ``x``: CPU fp32 inference of a
    module in eval mode (dropout and drop path off) without autograd (the chunks are written
    into preallocated buffers), CPU autocast or a tracer (which should record the plain ops)."""
    return (not torch.is_grad_enabled() and not module.training and x.device.type == 'cpu'
            and x.dtype == torch.float32 and not torch.is_autocast_enabled('cpu')
            and not torch.jit.is_tracing())


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
    out = x.new_empty(x.shape)
    for b in range(0, B, group):
        out[b:b + group] = attn.hilo(x[b:b + group])
    return out


def ffn_residual(x, norm, ffn, H, W, chunk_elements=CHUNK_ELEMENTS):
    """``x + ffn(norm(x), H, W)`` for a ConvFFN ``ffn`` and a LayerNorm ``norm``, chunk by
    chunk: groups of whole images, or bands of rows of one large image.
    x: (B, H*W, C) -> a new (B, H*W, C) tensor."""
    x = x.contiguous()
    B, N, C = x.shape
    hidden = ffn.fc1.out_features
    out = torch.empty_like(x)
    rows = chunk_elements // (W * hidden)
    if rows >= H:  # whole images, as many per chunk as fit
        group = images_per_chunk(N * hidden, chunk_elements)
        for b in range(0, B, group):
            xs = x[b:b + group].view(-1, C)
            h = torch.addmm(ffn.fc1.bias, norm(xs), ffn.fc1.weight.t())
            _conv_gelu_fc2(ffn, h.view(-1, H, W, hidden), (1, 1), out[b:b + group], xs)
    else:
        for b in range(B):
            _row_bands(x[b], norm, ffn, out[b], H, W, max(rows, 2))
    return out


def _row_bands(x, norm, ffn, out, H, W, rows):
    """One image, ``rows`` output rows at a time. x: (H*W, C) -> out: (H*W, C).

    ``buf`` holds fc1's output for image rows r0 - 1 .. r1 (zeros outside the image); the two
    rows the next band shares with this one move to its top instead of being recomputed.
    """
    hidden = ffn.fc1.out_features
    buf = x.new_empty((rows + 2) * W, hidden)
    buf[:W].zero_()  # the zero row above the image
    filled = 1
    for r0 in range(0, H, rows):
        r1 = min(r0 + rows, H)
        if r0 > 0:
            buf[:2 * W].copy_(buf[(filled - 2) * W:filled * W])
            filled = 2
        first, stop = r0 - 1 + filled, min(r1 + 1, H)  # image rows fc1 still has to do
        if stop > first:
            torch.addmm(ffn.fc1.bias, norm(x[first * W:stop * W]), ffn.fc1.weight.t(),
                        out=buf[filled * W:(filled + stop - first) * W])
            filled += stop - first
        if r1 == H:  # the zero row below the image
            buf[filled * W:(filled + 1) * W].zero_()
        band = buf[:(r1 - r0 + 2) * W].view(1, r1 - r0 + 2, W, hidden)
        _conv_gelu_fc2(ffn, band, (0, 1), out[r0 * W:r1 * W], x[r0 * W:r1 * W])


def _conv_gelu_fc2(ffn, h, padding, out, residual):
    """h: (b, rows, W, hidden) fc1 output -> depthwise conv (``padding``), GELU, fc2 into
    ``out``, plus ``residual``."""
    h = conv_gelu_channels_last(h.permute(0, 3, 1, 2), ffn.dwconv.dwconv, padding)
    h = h.permute(0, 2, 3, 1).reshape(-1, h.shape[1])
    out = out.view(-1, out.shape[-1])
    torch.addmm(ffn.fc2.bias, h, ffn.fc2.weight.t(), out=out)
    out.add_(residual.view_as(out))


def conv_gelu_channels_last(x, conv, padding, fused=_FUSED_CONV_GELU):
    """``gelu(conv(x))`` (exact erf GELU) for a CPU fp32 NCHW ``x`` with channels-last
    strides; the output has channels-last strides too.

    ``fused`` (default: where PyTorch has oneDNN): one kernel applies GELU as the conv's
    post-op while the output is still in cache (``torch.ops.mkldnn._convolution_pointwise``,
    what inductor emits for this pattern); otherwise conv, then GELU in place.
    """
    if fused:
        return torch.ops.mkldnn._convolution_pointwise(
            x, conv.weight, conv.bias, list(padding), list(conv.stride), list(conv.dilation),
            conv.groups, 'gelu', [None], 'none')
    y = F.conv2d(x, conv.weight, conv.bias, conv.stride, padding, conv.dilation, conv.groups)
    return torch.ops.aten.gelu_(y)
