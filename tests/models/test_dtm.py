"""Deformable token merging: the grid_sample path equals mmcv's deform_conv2d plus bias."""
import pytest
import torch
from mmcv.ops import deform_conv2d

from litv2_mm.models import DeformableTokenMerging, deform_conv2x2_s2


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
