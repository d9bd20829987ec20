"""FLOPs counting: the authors' count reproduces the published figures, the complete count
includes more, and the attention products are the hand-worked numbers."""
import os.path as osp

import pytest
import torch

from litv2_mm.analysis.flops import authors_count, complete_count, hilo_attention_products
from litv2_mm.analysis.model_specs import build_model, count_parameters
from litv2_mm.models import HiLoAttention

from helpers import REPO_ROOT


def config(path):
    return osp.join(REPO_ROOT, 'configs', path)


@pytest.fixture(scope='module')
def retinanet_s():
    """RetinaNet LITv2-S at the paper's 1280 x 800 (input (1, 3, 800, 1280)): one forward."""
    built = build_model(config('retinanet/litv2_s_1x.py'))
    return built, authors_count(built.module, torch.zeros(1, 3, 800, 1280))


def test_retinanet_litv2_s_reproduces_the_published_count(retinanet_s):
    built, count = retinanet_s
    assert count.total == pytest.approx(242.39e9, rel=0.02)
    assert count_parameters(built.module)[0] == pytest.approx(38.01e6, rel=0.005)


def test_retinanet_litv2_s_attention_products(retinanet_s):
    # stage 3 adds 15.37G (6 blocks), stage 4 3.07G (2 blocks): hilo_flops by hand
    _, count = retinanet_s
    assert count.attention == 6 * 2_562_048_000 + 2 * 1_536_000_000
    assert count.attention == pytest.approx(18.45e9, rel=1e-3)


def test_semantic_fpn_litv2_s_reproduces_the_published_count():
    built = build_model(config('sem_fpn/litv2_s_512x512_80k_ade20k.py'))
    count = authors_count(built.module, torch.zeros(1, 3, 512, 512))
    assert count.total == pytest.approx(41.29e9, rel=0.02)


def test_complete_count_of_the_classifier_matches_the_paper_and_exceeds_the_authors():
    built = build_model(config('classification/litv2_s_8xb128_in1k.py'))
    images = torch.zeros(1, 3, 224, 224)
    complete = complete_count(built.module, images)
    authors = authors_count(built.module, images)
    assert complete.total == pytest.approx(3.7e9, rel=0.03)  # the paper's 3.7G
    assert complete.total > authors.total
    assert sum(complete.parts.values()) == complete.total


@pytest.mark.parametrize('dim, heads, ws, alpha, H, W, products', [
    (384, 12, 2, 0.9, 50, 80, 2_562_048_000),  # RetinaNet LITv2-S stage 3 at 1280 x 800
    (768, 24, 1, 0.9, 25, 40, 1_536_000_000),  # stage 4: plain attention
    (384, 12, 2, 0.5, 14, 14, 3_988_992),
    (384, 12, 4, 0.9, 13, 21, 6_684_672),      # padded to 16 x 24
    (128, 4, 2, 0.0, 7, 9, 81_920),            # Hi-Fi only, padded to 8 x 10
    (128, 4, 2, 1.0, 7, 9, 409_600),           # Lo-Fi only
])
def test_attention_products_by_hand(dim, heads, ws, alpha, H, W, products):
    """Hi-Fi: windows * (s^2)^2 * h_dim * 2; Lo-Fi: tokens * l_dim * windows * 2, on the
    padded map (numbers worked out by hand; the formula itself is models.hilo.hilo_flops)."""
    attn = HiLoAttention(dim, heads, qkv_bias=True, window_size=ws, alpha=alpha)
    assert hilo_attention_products(attn, H, W) == products


def test_counts_are_per_image():
    built = build_model('litv2_s')
    one = authors_count(built.module, torch.zeros(1, 3, 64, 64))
    two = authors_count(built.module, torch.zeros(2, 3, 64, 64))
    assert one.total == two.total and one.attention == two.attention


def test_get_flops_tool_prints_both_counts(capsys, load_tool):
    counts, params = load_tool('analysis/get_flops').main(['--arch', 'litv2_s', '--shape', '64'])
    out = capsys.readouterr().out
    assert "| part | authors' count | complete count |" in out
    assert '| **total** |' in out and 'input (1, 3, 64, 64)' in out
    # LITv2-S with its three output norms (the authors' detection backbone)
    assert params == 27_076_152
    assert counts['complete count'].total > counts["authors' count"].total
