"""ConvFFN equals the authors' formulation (the reference) with gradients; key names; init."""
import math

import pytest
import torch

from litv2_mm.models import ConvFFN
from litv2_mm.models.convffn import DepthwiseConv
from litv2_mm.reference import ReferenceConvFFN


@pytest.mark.parametrize('H,W', [(1, 1), (1, 5), (4, 1), (2, 2), (7, 9), (28, 28)])
def test_convffn_equals_the_reference_with_gradients(H, W):
    torch.manual_seed(0)
    ffn = ConvFFN(8, 32)
    for p in ffn.parameters():
        torch.nn.init.normal_(p)
    ref = ReferenceConvFFN(8, 32)
    ref.load_state_dict(ffn.state_dict())
    x = torch.randn(2, H * W, 8, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    out, expected = ffn(x, H, W), ref(x2, H, W)
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5 * expected.abs().max().item())
    grad = torch.randn_like(out)
    out.backward(grad)
    expected.backward(grad)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5 * x2.grad.abs().max().item())
    ref_params = dict(ref.named_parameters())
    for name, p in ffn.named_parameters():
        q = ref_params[name]
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-5 * q.grad.abs().max().item(),
                                   msg=name)


def test_key_names_are_the_authors():
    assert set(ConvFFN(4, 16).state_dict()) == {
        'fc1.weight', 'fc1.bias', 'dwconv.dwconv.weight', 'dwconv.dwconv.bias', 'fc2.weight',
        'fc2.bias'}


def test_depthwise_conv_init_is_the_authors():
    conv = DepthwiseConv(4096)
    conv.init_weights()
    assert conv.dwconv.bias.abs().max() == 0
    assert conv.dwconv.weight.std().item() == pytest.approx(math.sqrt(2 / 9), rel=0.02)
