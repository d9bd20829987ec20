"""``--amp`` without a GPU: LITv2Runner builds CPUAmpOptimWrapper (bf16 CPU autocast, or fp16
with a CPU loss scaler) where mmengine's AmpOptimWrapper would refuse the machine; with a GPU
the config is left to mmengine; evaluation under autocast falls back to fp32 on a CPU
without native bf16."""
import inspect
import re

import pytest
import torch
from mmengine.config import ConfigDict
from mmengine.optim import AmpOptimWrapper

from litv2_mm.engine import amp
from litv2_mm.engine.amp import CPUAmpOptimWrapper, cpu_amp_config, inference_amp_config

from helpers import skip_unless_cpu_bf16


def amp_cfg(**kwargs):
    return ConfigDict(type='AmpOptimWrapper', loss_scale='dynamic',
                      optimizer=dict(type='SGD', lr=0.1), **kwargs)


def build(cfg, model):
    from mmengine.optim import build_optim_wrapper
    return build_optim_wrapper(model, cpu_amp_config(cfg))


def test_amp_optim_wrapper_init_sets_only_what_cpu_amp_replaces():
    """CPUAmpOptimWrapper skips AmpOptimWrapper.__init__ (it asserts a GPU) and sets its
    attributes itself: if mmengine's __init__ sets anything else, this fails."""
    source = inspect.getsource(AmpOptimWrapper.__init__)
    assert set(re.findall(r'self\.(\w+) =', source)) == {
        '_scale_update_param', 'loss_scaler', 'cast_dtype'}


def test_amp_on_a_cpu_only_machine_is_bf16_autocast_without_loss_scale():
    if amp.has_amp_accelerator():
        pytest.skip('this machine has a GPU: AmpOptimWrapper is mmengine\'s')
    skip_unless_cpu_bf16()
    model = torch.nn.Linear(4, 2)
    wrapper = build(amp_cfg(), model)
    assert type(wrapper) is CPUAmpOptimWrapper and isinstance(wrapper, AmpOptimWrapper)
    assert wrapper.cast_dtype == torch.bfloat16 and not wrapper.loss_scaler.is_enabled()
    before = model.weight.detach().clone()
    with wrapper.optim_context(model):
        assert torch.is_autocast_enabled('cpu')
        assert torch.get_autocast_dtype('cpu') == torch.bfloat16
        loss = model(torch.randn(3, 4)).float().pow(2).mean()
    wrapper.update_params(loss)
    assert not torch.equal(before, model.weight)
    assert 'loss_scaler' in wrapper.state_dict()


def test_fp16_on_a_cpu_uses_a_dynamic_loss_scale_kept_in_the_state_dict():
    model = torch.nn.Linear(4, 2)
    wrapper = CPUAmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                 dtype='float16', loss_scale='dynamic')
    with wrapper.optim_context(model):
        assert torch.get_autocast_dtype('cpu') == torch.float16
        loss = model(torch.randn(3, 4)).float().pow(2).mean()
    wrapper.update_params(loss)
    state = wrapper.state_dict()
    assert state['loss_scaler']['scale'] == wrapper.loss_scaler.get_scale() > 0
    other = CPUAmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                               dtype='float16')
    state['loss_scaler']['scale'] = 1024.0
    other.load_state_dict(state)
    assert other.loss_scaler.get_scale() == 1024.0


def test_a_gpu_keeps_mmengines_amp_optim_wrapper(monkeypatch):
    monkeypatch.setattr(amp, 'has_amp_accelerator', lambda: True)
    cfg = amp_cfg()
    assert cpu_amp_config(cfg) is cfg
    plain = ConfigDict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    monkeypatch.setattr(amp, 'has_amp_accelerator', lambda: False)
    assert cpu_amp_config(plain) is plain
    swapped = cpu_amp_config(cfg)
    assert swapped.type == 'CPUAmpOptimWrapper' and cfg.type == 'AmpOptimWrapper'


@pytest.mark.parametrize('kwargs,word', [(dict(dtype='float32'), 'dtype'),
                                         (dict(dtype='float16', loss_scale='big'), 'loss_scale')])
def test_bad_arguments_are_named(kwargs, word):
    model = torch.nn.Linear(4, 2)
    with pytest.raises((ValueError, TypeError), match=word):
        CPUAmpOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), **kwargs)


def test_evaluation_under_autocast_on_a_cpu_is_bf16_features_or_fp32(monkeypatch):
    loop = ConfigDict(fp16=True)  # mmengine builds a TestLoop for a config without type
    assert inference_amp_config(loop, 'cuda', 'TestLoop') is loop  # mmengine's fp16
    monkeypatch.setattr(amp, 'cpu_bf16', lambda: 'native')
    cfg = inference_amp_config(loop, 'cpu', 'TestLoop')
    assert cfg.type == 'CPUAmpTestLoop' and cfg.fp16 is False
    cfg = inference_amp_config(ConfigDict(type='ValLoop', fp16=True), 'cpu', 'ValLoop')
    assert cfg.type == 'CPUAmpValLoop'
    monkeypatch.setattr(amp, 'cpu_bf16', lambda: 'emulated')
    cfg = inference_amp_config(loop, 'cpu', 'TestLoop')
    assert cfg.fp16 is False and 'type' not in cfg
    assert loop == dict(fp16=True)  # the config is left alone


class Detector(torch.nn.Module):
    """extract_feat, then a head that (as mmcv's CPU NMS) takes fp32 only."""

    def __init__(self):
        super().__init__()
        self.backbone, self.head = torch.nn.Linear(4, 4), torch.nn.Linear(4, 2)

    def extract_feat(self, x):
        return (self.backbone(x),)

    def forward(self, x):
        (feat,) = self.extract_feat(x)
        assert feat.dtype == torch.float32 and not torch.is_autocast_enabled('cpu')
        return self.head(feat)


def test_autocast_features_runs_the_feature_extractor_in_low_precision_only():
    from litv2_mm.engine import autocast_features
    model = Detector()
    seen = []
    model.backbone.register_forward_hook(lambda m, i, o: seen.append(o.dtype))
    with autocast_features(model, torch.bfloat16):
        out = model(torch.randn(3, 4))
    assert seen == [torch.bfloat16] and out.dtype == torch.float32
    assert 'extract_feat' not in model.__dict__  # the instance is as it was
    with pytest.raises(RuntimeError):  # restored on errors too
        with autocast_features(model):
            raise RuntimeError
    assert 'extract_feat' not in model.__dict__


def test_bf16_on_a_cpu_without_bf16_kernels_fails_naming_the_fix(monkeypatch):
    monkeypatch.setattr(amp, 'cpu_bf16', lambda: 'none')
    with pytest.raises(RuntimeError, match='no oneDNN bf16 kernels.*without --amp'):
        CPUAmpOptimWrapper(optimizer=torch.optim.SGD(torch.nn.Linear(2, 2).parameters(), 0.1))
