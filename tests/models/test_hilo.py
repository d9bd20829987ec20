"""HiLo attention vs. the paper's formulas written out with loops and matmuls, and vs. the
authors' formulation (the reference), with gradients."""
import math

import pytest
import torch
import torch.nn.functional as F

from litv2_mm.models import HiLoAttention, cpu_inference
from litv2_mm.reference import ReferenceHiLo


def paper_hilo(attn, x, H, W):
    """HiLo as the paper states it, one window at a time. x: (B, H*W, C)."""
    B, N, C = x.shape
    s, hd = attn.window_size, attn.head_dim
    Hp, Wp = s * math.ceil(H / s), s * math.ceil(W / s)
    img = torch.zeros(B, Hp, Wp, C, dtype=x.dtype)
    img[:, :H, :W] = x.view(B, H, W, C)
    outs = []
    if attn.hifi_heads:
        hi = torch.zeros(B, Hp, Wp, attn.hifi_dim, dtype=x.dtype)
        for i in range(0, Hp, s):
            for j in range(0, Wp, s):
                win = img[:, i:i + s, j:j + s].reshape(B, s * s, C)
                q, k, v = (win @ attn.h_qkv.weight.T + attn.h_qkv.bias).chunk(3, dim=-1)
                heads = []
                for h in range(attn.hifi_heads):
                    sl = slice(h * hd, (h + 1) * hd)
                    a = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) * attn.scale, -1)
                    heads.append(a @ v[..., sl])
                hi[:, i:i + s, j:j + s] = torch.cat(heads, -1).view(B, s, s, -1)
        outs.append(hi @ attn.h_proj.weight.T + attn.h_proj.bias)
    if attn.lofi_heads:
        flat = img.reshape(B, Hp * Wp, C)
        q = flat @ attn.l_q.weight.T + attn.l_q.bias
        pooled = F.avg_pool2d(img.permute(0, 3, 1, 2), s).flatten(2).transpose(1, 2)
        k, v = (pooled @ attn.l_kv.weight.T + attn.l_kv.bias).chunk(2, dim=-1)
        heads = []
        for h in range(attn.lofi_heads):
            sl = slice(h * hd, (h + 1) * hd)
            a = torch.softmax(q[..., sl] @ k[..., sl].transpose(1, 2) * attn.scale, -1)
            heads.append(a @ v[..., sl])
        lo = torch.cat(heads, -1) @ attn.l_proj.weight.T + attn.l_proj.bias
        outs.append(lo.view(B, Hp, Wp, -1))
    return torch.cat(outs, -1)[:, :H, :W].reshape(B, N, C)


CASES = [  # dim, heads, window, alpha, H, W
    (64, 4, 2, 0.5, 6, 6), (64, 4, 2, 0.9, 7, 5), (48, 3, 3, 0.5, 7, 8), (64, 4, 4, 0.5, 9, 6),
    (64, 4, 1, 0.9, 5, 4), (64, 4, 2, 0.0, 6, 6), (64, 4, 2, 1.0, 5, 5), (64, 4, 2, 0.5, 1, 1),
    (96, 12, 2, 0.9, 4, 9),
]


@pytest.mark.parametrize('dim,heads,ws,alpha,H,W', CASES)
@pytest.mark.parametrize('speedups', [False, True])  # the plain model; CPU inference speed-ups
def test_hilo_equals_paper_formulas(dim, heads, ws, alpha, H, W, speedups):
    torch.manual_seed(0)
    attn = HiLoAttention(dim, heads, qkv_bias=True, window_size=ws, alpha=alpha).eval()
    x = torch.randn(2, H * W, dim)
    with torch.no_grad(), cpu_inference.cpu_speedups(speedups, attn):
        out = attn(x, H, W)
    assert out.shape == x.shape
    torch.testing.assert_close(out, paper_hilo(attn, x, H, W), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('dim,heads,ws,alpha,H,W', CASES)
def test_hilo_and_reference_agree_with_gradients(dim, heads, ws, alpha, H, W):
    torch.manual_seed(1)
    fast = HiLoAttention(dim, heads, qkv_bias=True, window_size=ws, alpha=alpha)
    ref = ReferenceHiLo(dim, heads, qkv_bias=True, window_size=ws, alpha=alpha)
    ref.load_state_dict(fast.state_dict())
    x = torch.randn(2, H * W, dim, requires_grad=True)
    x2 = x.detach().clone().requires_grad_()
    out_f, out_r = fast(x, H, W), ref(x2, H, W)
    torch.testing.assert_close(out_f, out_r, rtol=1e-5, atol=1e-5)
    grad = torch.randn_like(out_f)
    out_f.backward(grad)
    out_r.backward(grad)
    torch.testing.assert_close(x.grad, x2.grad, rtol=1e-5, atol=1e-5)
    ref_params = dict(ref.named_parameters())
    for name, p in fast.named_parameters():
        torch.testing.assert_close(p.grad, ref_params[name].grad, rtol=1e-5, atol=1e-5, msg=name)


def test_head_split_and_parameter_names():
    attn = HiLoAttention(384, 12, window_size=2, alpha=0.9)
    assert (attn.hifi_heads, attn.lofi_heads) == (2, 10)
    assert {n.split('.')[0] for n, _ in attn.named_parameters()} == {
        'h_qkv', 'h_proj', 'l_q', 'l_kv', 'l_proj'}
    msa = HiLoAttention(384, 12, window_size=1, alpha=0.9)
    assert (msa.hifi_heads, msa.lofi_heads) == (0, 12)
    assert {n.split('.')[0] for n, _ in msa.named_parameters()} == {'l_q', 'l_kv', 'l_proj'}
    assert not hasattr(HiLoAttention(64, 4, alpha=0.), 'l_q')
    assert not hasattr(HiLoAttention(64, 4, alpha=1.), 'h_qkv')


def test_flops_matches_the_paper_check_value():
    assert HiLoAttention(384, 12, window_size=2, alpha=0.5).flops(14, 14) == 83_467_776
    assert ReferenceHiLo(384, 12, window_size=2, alpha=0.5).flops(14, 14) == 83_467_776


def test_flops_counts_padding_and_plain_msa():
    attn = HiLoAttention(64, 4, window_size=2, alpha=0.5)
    assert attn.flops(13, 13) == attn.flops(14, 14)
    msa = HiLoAttention(64, 4, window_size=1)
    N = 7 * 7
    assert msa.flops(7, 7) == N * 64 * 64 + N * 64 * 128 + N * 64 * N * 2 + N * 64 * 64


@pytest.mark.parametrize('kwargs,word', [
    (dict(dim=64, num_heads=5), 'num_heads'), (dict(dim=64, num_heads=4, alpha=1.5), 'alpha'),
    (dict(dim=64, num_heads=4, alpha=-0.1), 'alpha'),
    (dict(dim=64, num_heads=4, window_size=0), 'window_size'),
    (dict(dim=0, num_heads=1), 'dim'),
])
def test_bad_arguments_are_named(kwargs, word):
    with pytest.raises(ValueError, match=word):
        HiLoAttention(**kwargs)


def test_wrong_token_count_is_reported():
    attn = HiLoAttention(64, 4)
    with pytest.raises(ValueError, match='H\\*W'):
        attn(torch.randn(1, 10, 64), 3, 3)


def test_the_standalone_example_in_the_docs_runs(repo_root):
    """docs/hilo.md's example, as written there: build, forward, backward, shapes."""
    import os.path as osp
    import re
    with open(osp.join(repo_root, 'docs', 'hilo.md')) as f:
        blocks = re.findall(r'```python\n(.*?)```', f.read(), flags=re.S)
    example = next(b for b in blocks if 'class HiLoBlock' in b)
    namespace = {}
    exec(compile(example, 'docs/hilo.md', 'exec'), namespace)
    y, x, block = namespace['y'], namespace['x'], namespace['block']
    assert y.shape == x.shape == (1, 256, 64, 64)
    assert x.grad is not None and x.grad.shape == x.shape and torch.isfinite(x.grad).all()
    assert all(p.grad is not None for p in block.attn.parameters())
    assert (block.attn.hifi_heads, block.attn.lofi_heads, block.attn.window_size) == (4, 4, 8)
