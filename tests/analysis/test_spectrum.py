"""HiLo branch spectra: capture of the branch outputs, FFT / radial profile, images read as
the config reads them, the CLI tool (and its plots)."""
import math
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from PIL import Image

from litv2_mm.analysis.spectrum import (capture_branches, default_layers, fft_magnitude, hilo_layer,
                                        mean_spectra, parse_layer, radial_profile)
from litv2_mm.config import (IMAGE_SUFFIXES, dataset_image_dir, list_images, load_config_images,
                             normalisation)
from litv2_mm.models import LITv2

from helpers import TINY


def tiny_model(**kwargs):
    torch.manual_seed(0)
    model = LITv2(arch=TINY, init_cfg=None, **kwargs)
    model.init_weights()
    return model.eval()


@pytest.mark.parametrize('alpha', [0.9, 0.5])
def test_captured_tensors_are_the_branch_outputs(alpha):
    model = tiny_model(alpha=alpha)
    attn = model.layers[2].blocks[1].attn
    heads = attn.num_heads
    assert attn.hifi_dim == attn.head_dim * (heads - int(heads * alpha))
    assert attn.lofi_dim == attn.head_dim * int(heads * alpha)
    seen = {}
    attn.register_forward_pre_hook(lambda m, args: seen.update(args=args))
    attn.register_forward_hook(lambda m, args, out: seen.update(out=out))
    images = torch.randn(2, 3, 80, 96)  # stage 3: 5 x 6 tokens, padded to 6 x 6 (window 2)
    with torch.no_grad(), capture_branches(model, ['2.1']) as captured:
        model(images)
    (hifi, ), (lofi, ) = captured['2.1']['hifi'], captured['2.1']['lofi']
    assert hifi.shape == (2, 6, 6, attn.hifi_dim)
    assert lofi.shape == (2, 6, 6, attn.lofi_dim)
    # The wrapped methods are gone again: the class's own hifi/lofi run on the same input.
    assert 'hifi' not in vars(attn) and 'lofi' not in vars(attn)
    x, H, W = seen['args']
    padded = F.pad(x.view(2, H, W, -1), (0, 0, 0, 6 - W, 0, 6 - H))
    with torch.no_grad():
        torch.testing.assert_close(hifi, attn.hifi(attn.h_qkv(padded)))
        torch.testing.assert_close(lofi, attn.lofi(padded, attn.l_q(padded)))
    # ... and concatenated, cropped, they are the layer's output.
    joined = torch.cat((hifi, lofi), -1)[:, :H, :W].reshape(2, H * W, -1)
    torch.testing.assert_close(joined, seen['out'])


def test_capture_accumulates_over_passes_and_restores_on_error():
    model = tiny_model()
    with torch.no_grad(), capture_branches(model, ['2.0', '2.1']) as captured:
        model(torch.randn(1, 3, 64, 64))
        model(torch.randn(3, 3, 64, 64))
    assert [t.shape[0] for t in captured['2.0']['lofi']] == [1, 3]
    spectra = mean_spectra(captured)
    assert spectra['2.1']['hifi'].shape == (captured['2.1']['hifi'][0].shape[-1], 4, 4)
    with pytest.raises(ValueError, match='no such block'):
        with capture_branches(model, ['2.0', '2.7']):
            pass
    assert 'hifi' not in vars(model.layers[2].blocks[0].attn)


def test_layer_selection_and_errors():
    model = tiny_model()
    assert default_layers(model) == ['2.0', '2.1']
    assert parse_layer('2.1') == (2, 1)
    with pytest.raises(ValueError, match='STAGE.BLOCK'):
        parse_layer('2')
    with pytest.raises(ValueError, match='no attention'):
        hilo_layer(model, '0.0')
    with pytest.raises(ValueError, match='both branches'):
        hilo_layer(model, '3.0')  # window 1: plain attention, Lo-Fi only
    assert default_layers(tiny_model(window_size=(0, 0, 1, 1))) == []


def test_constant_map_has_all_energy_at_frequency_zero():
    maps = torch.full((2, 8, 10, 3), 2.5)
    mag = fft_magnitude(maps)
    assert mag.shape == (2, 3, 8, 10)
    assert mag[0, 0, 4, 5] == pytest.approx(2.5 * math.sqrt(80))  # centre = zero frequency
    freqs, profile = radial_profile(mag.mean(0))
    assert freqs[0] == 0 and freqs[-1] == 1 and len(freqs) == 5
    assert profile[0] == pytest.approx(2.5 * math.sqrt(80))
    assert torch.all(profile[1:].abs() < 1e-5)


def test_radial_profile_peaks_at_a_cosine_frequency():
    x = torch.arange(16.)
    wave = torch.cos(2 * math.pi * 3 * x / 16).expand(16, 16)  # 3 cycles along x
    freqs, profile = radial_profile(fft_magnitude(wave[None, :, :, None])[0])
    assert int(profile.argmax()) == 3 and freqs[3] == pytest.approx(3 / 8)


@pytest.mark.parametrize('config,folder', [
    ('configs/retinanet/litv2_s_1x_synthetic.py', 'data/generated/coco/val/'),
    ('configs/upernet/litv2_s_synthetic.py', 'data/generated/ade/images/validation'),
    ('configs/classification/litv2_s_8xb128_in1k.py', 'data/imagenet/val'),
])
def test_images_and_normalisation_come_from_the_config(repo_root, config, folder):
    cfg = Config.fromfile(osp.join(repo_root, config))
    assert osp.normpath(dataset_image_dir(cfg)) == osp.normpath(folder)
    mean, std, rgb = normalisation(cfg)  # mmpretrain keeps data_preprocessor at the top level
    assert mean == pytest.approx([123.675, 116.28, 103.53])
    assert std == pytest.approx([58.395, 57.12, 57.375]) and rgb


def test_images_are_read_with_the_config_pipeline_and_normalised(repo_root, ade_root):
    import mmcv
    cfg = Config.fromfile(osp.join(repo_root, 'configs/sem_fpn/litv2_s_synthetic.py'))
    paths = list_images(ade_root, limit=2)
    assert len(paths) == 2 and all(p.endswith(IMAGE_SUFFIXES) for p in paths)
    images = load_config_images(cfg, paths, (48, 64))
    assert images.shape == (2, 3, 48, 64) and images.dtype == torch.float32
    bgr = mmcv.imresize(mmcv.imread(paths[1]), (64, 48)).astype('float32')
    mean, std, _ = normalisation(cfg)  # bgr_to_rgb: channel 0 is red
    expected = (torch.from_numpy(bgr[..., ::-1].copy()).permute(2, 0, 1)
                - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
    torch.testing.assert_close(images[1], expected)
    with pytest.raises(FileNotFoundError, match='no images'):
        list_images(osp.join(repo_root, 'configs'))


def test_tool_writes_both_pngs_from_a_synthetic_config(repo_root, ade_root, tmp_path, monkeypatch,
                                                       capsys, load_tool):
    monkeypatch.chdir(repo_root)  # the config's data_root is relative to the repository
    tool = load_tool('analysis/spectrum')
    tool.main(['configs/sem_fpn/litv2_s_synthetic.py', '--num-images', '2', '--size', '64',
               '--layers', '2.0', '2.5', '--out-dir', str(tmp_path)])
    printed = capsys.readouterr().out
    assert 'random initialisation' in printed
    for name in ('hilo_spectrum.png', 'hilo_radial_profile.png'):
        path = tmp_path / name
        assert str(path) in printed
        with Image.open(path) as img:
            assert img.format == 'PNG' and min(img.size) > 100


def test_tool_rejects_a_missing_image_folder(repo_root, tmp_path, monkeypatch, load_tool):
    monkeypatch.chdir(repo_root)
    tool = load_tool('analysis/spectrum')
    with pytest.raises(FileNotFoundError, match='--images'):
        tool.main(['configs/sem_fpn/litv2_s_synthetic.py', '--images', str(tmp_path / 'no'),
                   '--out-dir', str(tmp_path)])
