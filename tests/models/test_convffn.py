"""ConvFFN: the folded fc1 bias equals the plain Linear -> dwconv -> GELU -> Linear."""
import pytest
import torch

from litv2_mm.models import ConvFFN, ReferenceConvFFN


@pytest.mark.parametrize('H,W', [(1, 1), (1, 5), (4, 1), (2, 2), (7, 9), (28, 28)])
def test_fast_convffn_equals_the_plain_one(H, W):
    torch.manual_seed(0)
    fast = ConvFFN(8, 32)
    for p in fast.parameters():
        torch.nn.init.normal_(p)
    plain = ReferenceConvFFN(8, 32)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(2, H * W, 8, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    with torch.no_grad():  # the folded, in-place inference path
        torch.testing.assert_close(fast(x, H, W), plain(x2, H, W), rtol=1e-5,
                                   atol=1e-5 * plain(x2, H, W).abs().max().item())
    out, ref = fast(x, H, W), plain(x2, H, W)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5 * ref.abs().max().item())
    grad = torch.randn_like(out)
    out.backward(grad)
    ref.backward(grad)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5 * x2.grad.abs().max().item())
    for (name, p), q in zip(fast.named_parameters(), plain.parameters()):
        torch.testing.assert_close(p.grad, q.grad, rtol=1e-5, atol=1e-5 * q.grad.abs().max().item(),
                                   msg=name)


def test_key_names_are_the_authors():
    assert set(ConvFFN(4, 16).state_dict()) == {
        'fc1.weight', 'fc1.bias', 'dwconv.dwconv.weight', 'dwconv.dwconv.bias', 'fc2.weight',
        'fc2.bias'}
