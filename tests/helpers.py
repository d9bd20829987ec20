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


def with_fault(tmp_dir, tiny_config, cfg, **hook):
    """A config inheriting ``cfg`` with ``SignalAtIterHook(**hook)`` (tests/toy_training.py:
    a signal at a fixed iteration) added to the hooks every config declares."""
    from mmengine.config import Config
    hooks = [*Config.fromfile(cfg).custom_hooks, dict(type='SignalAtIterHook', **hook)]
    return tiny_config(tmp_dir, cfg, f"custom_imports = dict(imports=['litv2_mm', "
                       f"'toy_training'], allow_failed_imports=False)\ncustom_hooks = {hooks!r}\n")


def checkpoint_weights(path):
    """The model weights of a checkpoint file."""
    import torch
    return torch.load(path, map_location='cpu', weights_only=True)['state_dict']


def assert_same_weights(a, b):
    """Two state dicts with the same keys and bitwise equal tensors."""
    import torch
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key
