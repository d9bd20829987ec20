"""The reference LITv2 (authors' formulation): built from a LITv2 with its weights, the same
state-dict keys, its frozen parameters and mode; its own parts are checked against the model
in tests/models and its token merging against mmcv in tests/models/test_dtm.py."""
import torch

from litv2_mm.models import LITv2
from litv2_mm.reference import ReferenceLITv2, reference_litv2

from helpers import TINY


def test_one_state_dict_loads_into_both():
    model = LITv2(arch=TINY, out_indices=(1, 3), window_size=(0, 0, 3, 1), alpha=0.5)
    reference = reference_litv2(model)
    assert isinstance(reference, ReferenceLITv2) and not isinstance(reference, LITv2)
    state = reference.state_dict()
    assert set(state) == set(model.state_dict())
    for name, value in model.state_dict().items():
        assert torch.equal(value, state[name]), name


def test_frozen_parameters_and_mode_are_copied():
    model = LITv2(arch=TINY, frozen_stages=1, drop_path_rate=0.1).train()
    reference = reference_litv2(model)
    assert reference.training
    params = dict(reference.named_parameters())
    for name, p in model.named_parameters():
        assert params[name].requires_grad == p.requires_grad, name
    assert not params['patch_embed.proj.weight'].requires_grad
    assert not reference_litv2(model.eval()).training


def test_outputs_keep_the_shapes_at_tiny_sizes():
    model = LITv2(arch=TINY).eval()
    with torch.no_grad():
        for size in [(1, 1), (7, 5), (33, 47)]:
            x = torch.randn(1, 3, *size)
            assert [o.shape for o in reference_litv2(model)(x)] == [o.shape for o in model(x)]


def test_reference_spec_of_a_config_swaps_only_the_backbone(repo_root):
    import os.path as osp

    from litv2_mm.analysis.model_specs import build_model
    path = osp.join(repo_root, 'configs', 'retinanet', 'litv2_s_1x.py')
    fast, ref = build_model(path).module.model, build_model(path + ':reference').module.model
    assert type(fast.backbone) is LITv2 and type(ref.backbone) is ReferenceLITv2
    assert type(ref.neck) is type(fast.neck)
