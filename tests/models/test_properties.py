"""Property-based checks (hypothesis) of the backbone over sizes, batch, width, alpha and
window; mixed precision stays finite on large inputs."""
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from litv2_mm.models import HiLoAttention, LITv2

from helpers import expected_hw, skip_unless_cpu_bf16


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(H=st.integers(1, 150), W=st.integers(1, 150), batch=st.integers(1, 3),
       width=st.sampled_from([8, 16]), heads=st.sampled_from([1, 2, 4]),
       alpha=st.sampled_from([0., 0.25, 0.5, 0.9, 1.]), ws=st.integers(1, 5))
def test_backbone_shapes_and_finiteness(H, W, batch, width, heads, alpha, ws):
    arch = dict(embed_dims=width, depths=(1, 1, 1, 1), num_heads=(1, 1, heads, heads))
    model = LITv2(arch=arch, alpha=alpha, window_size=(0, 0, ws, 1)).eval()
    with torch.no_grad():
        outs = model(torch.randn(batch, 3, H, W))
    assert [tuple(o.shape) for o in outs] == [
        (batch, width * 2 ** i, h, w) for i, (h, w) in enumerate(expected_hw(H, W))]
    assert all(torch.isfinite(o).all() for o in outs)


@settings(max_examples=25, deadline=None)
@given(H=st.integers(1, 12), W=st.integers(1, 12), ws=st.integers(1, 4),
       alpha=st.sampled_from([0., 0.5, 0.9, 1.]), batch=st.integers(1, 2))
def test_hilo_batch_items_are_independent(H, W, ws, alpha, batch):
    """Each image's output depends on that image only (no mixing across the batch)."""
    attn = HiLoAttention(16, 4, qkv_bias=True, window_size=ws, alpha=alpha).eval()
    x = torch.randn(batch + 1, H * W, 16)
    with torch.no_grad():
        full = attn(x, H, W)
        single = torch.cat([attn(x[i:i + 1], H, W) for i in range(batch + 1)])
    torch.testing.assert_close(full, single, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('dtype', [torch.bfloat16, torch.float16])
def test_autocast_outputs_stay_finite_on_large_inputs(dtype):
    skip_unless_cpu_bf16(dtype)
    model = LITv2(arch=dict(embed_dims=16, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8))).eval()
    x = torch.randn(1, 3, 160, 192) * 50  # far outside the normalised range
    with torch.no_grad(), torch.autocast('cpu', dtype=dtype):
        outs = model(x)
    assert all(torch.isfinite(o.float()).all() for o in outs)
