"""Deformable token merging: the grid_sample path equals mmcv's deform_conv2d plus bias, and
the index form (deterministic mode on CUDA) equals the grid_sample path."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from mmcv.ops import deform_conv2d

from litv2_mm.models import DeformableTokenMerging, deform_conv2x2_s2, dtm

from helpers import assert_rel_close


@pytest.mark.parametrize('H,W', [(8, 8), (9, 11), (2, 3), (16, 5)])
def test_forward_and_gradients_equal_mmcv(H, W):
    torch.manual_seed(0)
    B, C, Co = 2, 6, 10
    x = torch.randn(B, C, H, W, requires_grad=True)
    # random non-zero offsets, some pointing outside the map
    offset = (torch.randn(B, 8, H // 2, W // 2) * 1.5).requires_grad_()
    weight = torch.randn(Co, C, 2, 2, requires_grad=True)
    bias = torch.randn(Co, requires_grad=True)
    leaves = [x, offset, weight, bias]
    ours = deform_conv2x2_s2(x, offset, weight, bias)
    clones = [t.detach().clone().requires_grad_() for t in leaves]
    xr, offr, wr, br = clones
    ref = deform_conv2d(xr, offr, wr, stride=2) + br.view(1, -1, 1, 1)
    torch.testing.assert_close(ours, ref, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(ours)
    ours.backward(grad)
    ref.backward(grad)
    for name, a, b in zip(['input', 'offset', 'weight', 'bias'], leaves, clones):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-4, atol=1e-4, msg=name)


def test_zero_offsets_equal_a_plain_strided_conv():
    x = torch.randn(1, 4, 6, 6)
    w, b = torch.randn(8, 4, 2, 2), torch.randn(8)
    out = deform_conv2x2_s2(x, torch.zeros(1, 8, 3, 3), w, b)
    torch.testing.assert_close(out, torch.nn.functional.conv2d(x, w, b, stride=2),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('H,W,Ho,Wo', [(63, 83, 31, 41), (1, 1, 1, 1), (1, 7, 1, 3), (2, 2, 1, 1)])
def test_token_merging_sizes_and_key_names(H, W, Ho, Wo):
    dtm = DeformableTokenMerging(8, 16).eval()
    out, h, w = dtm(torch.randn(2, H * W, 8), H, W)
    assert (h, w) == (Ho, Wo) and out.shape == (2, Ho * Wo, 16)
    assert set(dtm.state_dict()) == {
        'dconv.weight', 'dconv.bias', 'dconv.conv_offset.weight', 'dconv.conv_offset.bias',
        'norm_layer.weight', 'norm_layer.bias', 'norm_layer.running_mean',
        'norm_layer.running_var', 'norm_layer.num_batches_tracked'}
    assert not dtm.dconv.conv_offset.weight.any()  # offsets start at zero


@pytest.fixture
def deterministic():
    """torch.use_deterministic_algorithms(True) for one test, switched off after it."""
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(False)


def tap_pixels(Ho, Wo):
    """Row and column (4, Ho, Wo) of the pixel that each tap samples at zero offset."""
    rows = 2 * torch.arange(Ho).view(1, Ho, 1) + torch.tensor([0, 0, 1, 1]).view(4, 1, 1)
    cols = 2 * torch.arange(Wo).view(1, 1, Wo) + torch.tensor([0, 1, 0, 1]).view(4, 1, 1)
    return rows.expand(4, Ho, Wo), cols.expand(4, Ho, Wo)


def sample_both_forms(monkeypatch, x, offset):
    """_sample_taps through grid_sample and through the index form: [(samples, x.grad,
    offset.grad)] for a sum of the samples weighted by fixed random numbers."""
    grad = torch.randn(x.shape[0], x.shape[1], 4, offset[0, 0].numel(), dtype=x.dtype)
    results = []
    for index_form in (False, True):
        monkeypatch.setattr(dtm, '_index_sampling', lambda t: index_form)
        xi, offi = x.clone().requires_grad_(), offset.clone().requires_grad_()
        out = dtm._sample_taps(xi, offi)
        out.backward(grad)
        results.append((out.detach(), xi.grad, offi.grad))
    return results


@pytest.mark.parametrize('dtype,tol', [(torch.float32, 1e-5), (torch.float64, 1e-12)])
@pytest.mark.parametrize('H,W', [(8, 8), (9, 11), (2, 3), (16, 5), (13, 6)])
def test_index_form_equals_grid_sample(monkeypatch, H, W, dtype, tol):
    B, C, Ho, Wo = 2, 3, H // 2, W // 2
    x = torch.randn(B, C, H, W, dtype=dtype)
    # sampling positions (B, tap, (y, x), Ho, Wo), each one of: continuous inside and around
    # the map; a pixel border (half-integer: the map's edges -0.5 and size - 0.5 among them);
    # a pixel centre (integer: -1 and size just outside); far outside
    size = torch.tensor([H, W], dtype=dtype).view(1, 1, 2, 1, 1)
    shape = (B, 4, 2, Ho, Wo)
    continuous = torch.rand(shape, dtype=dtype) * (size + 3) - 1.5
    border = torch.floor(torch.rand(shape, dtype=dtype) * (size + 3)) - 1.5
    centre = torch.floor(torch.rand(shape, dtype=dtype) * (size + 2)) - 1
    far = torch.where(torch.rand(shape) < 0.5, -3.25, size + 2.25).to(dtype)
    kind = (torch.randperm(B * 8 * Ho * Wo) % 4).view(shape)  # each one in a quarter
    pos = torch.stack((continuous, border, centre, far)).gather(0, kind[None])[0]
    pos[0, :2, :, 0, 0] = torch.tensor([[-0.5, W - 0.5], [H - 0.5, -0.5]])  # the map's edges
    base = torch.stack(tap_pixels(Ho, Wo), dim=1).to(dtype)  # (4, 2, Ho, Wo)
    offset = (pos - base).view(B, 8, Ho, Wo)
    assert (offset.view(shape) + base == pos)[kind > 0].all()  # positions exact
    (ref, ref_dx, ref_doff), (out, dx, doff) = sample_both_forms(monkeypatch, x, offset)
    assert out.dtype == dtype and out.shape == (B, C, 4, Ho * Wo)
    assert ref.abs().max() > 0 and (ref == 0).any()  # samples inside and outside the map
    assert_rel_close(out, ref, tol, 'samples')
    assert_rel_close(dx, ref_dx, tol, 'input gradient')
    # At a pixel centre bilinear sampling has a kink along that axis: the offset gradient is
    # one-sided there, on a side that grid_sample's rounding of its normalised grid picks
    # (test_forward_difference_at_pixel_centres); it is compared everywhere else.
    smooth = (pos != pos.round()).view(B, 8, Ho, Wo)
    assert smooth.any() and not smooth.all()
    assert_rel_close(doff[smooth], ref_doff[smooth], tol, 'offset gradient')


@pytest.mark.parametrize('dtype', [torch.float32, torch.float64])
def test_forward_difference_at_pixel_centres(monkeypatch, dtype):
    """Zero offsets (DTM's start) sample pixel centres: the index form gives the pixels, and as
    offset gradient the forward difference x[y + 1] - x[y] (x = 0 outside the map), as
    grid_sample on an exact position."""
    monkeypatch.setattr(dtm, '_index_sampling', lambda t: True)
    B, C, H, W = 2, 3, 6, 7  # the last tap row is the map's last row, the last column is not
    Ho, Wo = H // 2, W // 2
    x = torch.randn(B, C, H, W, dtype=dtype, requires_grad=True)
    offset = torch.zeros(B, 8, Ho, Wo, dtype=dtype, requires_grad=True)
    out = dtm._sample_taps(x, offset)
    rows, cols = tap_pixels(Ho, Wo)
    torch.testing.assert_close(out, x[:, :, rows, cols].flatten(3), rtol=0, atol=0)
    out.sum().backward()
    padded = F.pad(x.detach(), (0, 1, 0, 1)).sum(1)  # (B, H + 1, W + 1), summed over C
    d_row = padded[:, rows + 1, cols] - padded[:, rows, cols]  # (B, 4, Ho, Wo)
    d_col = padded[:, rows, cols + 1] - padded[:, rows, cols]
    torch.testing.assert_close(offset.grad, torch.stack((d_row, d_col), 2).view(B, 8, Ho, Wo))


def test_token_merging_equal_in_both_forms(monkeypatch):
    """The whole DTM, whose offsets come channels-last from the tokens' layout: the same
    output and gradients in both forms (BatchNorm in eval mode: in training mode it takes
    the conv bias's gradient to round-off)."""
    merge = DeformableTokenMerging(8, 16).eval()
    with torch.no_grad():
        merge.dconv.conv_offset.weight.normal_(std=0.5)  # non-zero offsets
    tokens = torch.randn(2, 9 * 11, 8)
    results = []
    for index_form in (False, True):
        monkeypatch.setattr(dtm, '_index_sampling', lambda t: index_form)
        merge.zero_grad()
        x = tokens.clone().requires_grad_()
        out, _, _ = merge(x, 9, 11)
        out.square().sum().backward()
        results.append([out, x.grad] + [p.grad for p in merge.parameters()])
    for name, a, b in zip(['output', 'input'] + [n for n, _ in merge.named_parameters()],
                          *results):
        assert_rel_close(a, b, 1e-5, name)


@pytest.mark.parametrize('on,device,index_form', [
    (False, 'cpu', False), (False, 'cuda', False), (True, 'cpu', False), (True, 'cuda', True)])
def test_index_form_only_for_cuda_in_deterministic_mode(on, device, index_form):
    fake = SimpleNamespace(device=SimpleNamespace(type=device))
    torch.use_deterministic_algorithms(on)
    try:
        assert dtm._index_sampling(fake) is index_form
    finally:
        torch.use_deterministic_algorithms(False)


def test_token_merging_trains_in_deterministic_mode(deterministic):
    """On the CPU the deterministic mode keeps grid_sample: forward and backward run."""
    merge = DeformableTokenMerging(8, 16)
    with torch.no_grad():
        merge.dconv.conv_offset.weight.normal_()  # non-zero offsets
    out, _, _ = merge(torch.randn(2, 36, 8, requires_grad=True), 6, 6)
    out.square().sum().backward()
    assert merge.dconv.conv_offset.weight.grad.abs().sum() > 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
def test_token_merging_is_deterministic_on_cuda(deterministic):
    """grid_sample's CUDA backward would raise here; two runs give bitwise equal gradients."""
    merge = DeformableTokenMerging(32, 64).cuda()
    with torch.no_grad():
        merge.dconv.conv_offset.weight.normal_()
    x = torch.randn(4, 28 * 28, 32, device='cuda')
    grads = []
    for _ in range(2):
        merge.zero_grad()
        out, _, _ = merge(x, 28, 28)
        out.square().sum().backward()
        grads.append([p.grad.clone() for p in merge.parameters()])
    for a, b in zip(*grads):
        assert torch.equal(a, b)
