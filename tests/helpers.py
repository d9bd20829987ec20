"""Helpers shared by the tests (imported as ``from helpers import ...``; pytest puts this
folder on the import path for its conftest.py)."""

# A LITv2 small enough for fast tests that still has every part: 4 stages, attention in
# stages 3 and 4 (the default local_ws), two blocks in stage 3.
TINY = dict(embed_dims=16, depths=(1, 1, 2, 1), num_heads=(1, 2, 4, 8))
TINY_WIDTHS = [16, 32, 64, 128]
# The backbone of the end-to-end configs (``tiny_config``): wide enough to learn a little.
TRAIN_ARCH = dict(embed_dims=32, depths=(1, 1, 1, 1), num_heads=(1, 2, 4, 8))


def assert_rel_close(a, b, tol=1e-5, msg=''):
    """max |a - b| within ``tol`` of max |b| (relative agreement over a whole tensor)."""
    err = (a - b).abs().max().item() / max(b.abs().max().item(), 1e-12)
    assert err <= tol, f'{msg}: relative difference {err:.2e} > {tol:.0e}'


def expected_hw(H, W):
    """Map sizes of LITv2's four stages for an H x W image: ceil(H / 4) rows in stage 1,
    then halved (rounded down, at least 1) by every token merging."""
    h, w = -(-H // 4), -(-W // 4)
    sizes = []
    for _ in range(4):
        sizes.append((h, w))
        h, w = max(h // 2, 1), max(w // 2, 1)
    return sizes
