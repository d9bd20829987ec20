"""Random states as checkpoints carry them: read back to any device (mmengine resumes with
``map_location=get_device()``: CUDA on a GPU node; ``meta`` stands in for it here), and one
CUDA state per process, restored to the device the process uses whatever number of devices
it sees (CUDA simulated by monkeypatching ``torch.cuda``)."""
import random

import numpy as np
import pytest
import torch

from litv2_mm.engine.random_states import get_rng_states, set_rng_states


def draws():
    return torch.rand(3), np.random.rand(3), random.random()


def assert_same_draws(a, b):
    assert torch.equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert a[2] == b[2]


def test_states_read_back_to_another_device_restore_bitwise(tmp_path):
    torch.manual_seed(5)
    states = get_rng_states()
    expected = draws()
    torch.save({'rng_states': [states]}, tmp_path / 'c.pth')
    loaded = torch.load(tmp_path / 'c.pth', map_location='meta', weights_only=True)
    torch.manual_seed(7)
    set_rng_states(loaded['rng_states'][0])
    assert_same_draws(draws(), expected)


def test_states_of_earlier_checkpoints_still_restore():
    """Earlier checkpoints hold ByteTensors (a CUDA tensor after a resume on a GPU)."""
    torch.manual_seed(5)
    states = dict(get_rng_states(), torch=torch.get_rng_state())
    expected = draws()
    set_rng_states(states)
    assert_same_draws(draws(), expected)
    meta = dict(states, torch=torch.get_rng_state().to('meta'))
    with pytest.raises(ValueError, match="map_location='cpu'"):
        set_rng_states(meta)


class FakeCuda:
    """``torch.cuda`` of a process that sees ``count`` devices and uses ``current``: every
    device's generator state is a distinct ByteTensor; records what is set where."""

    def __init__(self, monkeypatch, count, current):
        self.states = {d: torch.full((16,), d, dtype=torch.uint8) for d in range(count)}
        self.count, self.current, self.set = count, current, {}
        for name in ('is_available', 'current_device', 'device_count', 'get_rng_state',
                     'set_rng_state', 'get_rng_state_all', 'set_rng_state_all'):
            monkeypatch.setattr(torch.cuda, name, getattr(self, name))

    def is_available(self):
        return True

    def current_device(self):
        return self.current

    def device_count(self):
        return self.count

    def get_rng_state(self, device='cuda'):
        return self.states[self.current if device == 'cuda' else int(device)]

    def set_rng_state(self, state, device='cuda'):
        device = self.current if device == 'cuda' else int(device)
        if device >= self.count:
            raise IndexError(f'no CUDA device {device}')
        assert state.device.type == 'cpu' and state.dtype == torch.uint8
        self.set[device] = state.clone()

    def get_rng_state_all(self):
        return [self.states[d] for d in range(self.count)]

    def set_rng_state_all(self, states):
        for device, state in enumerate(states):
            self.set_rng_state(state, device)


@pytest.mark.parametrize('saved_on, resumed_on', [((8, 3), (1, 0)), ((8, 3), (8, 3)),
                                                  ((1, 0), (4, 2))])
def test_one_cuda_state_per_process_restored_to_its_device(monkeypatch, saved_on, resumed_on,
                                                           tmp_path):
    """Rank 3 of an 8-GPU node saves its own device's state only; resumed where it sees one
    GPU (CUDA_VISIBLE_DEVICES per rank), or on a node with another layout, that state goes
    to the device the process uses, and nothing else is set."""
    cuda = FakeCuda(monkeypatch, *saved_on)
    states = get_rng_states()
    assert np.array_equal(states['cuda'], np.full(16, saved_on[1], dtype=np.uint8))
    torch.save(states, tmp_path / 's.pth')
    states = torch.load(tmp_path / 's.pth', map_location='meta', weights_only=True)
    cuda = FakeCuda(monkeypatch, *resumed_on)
    set_rng_states(states)
    assert list(cuda.set) == [resumed_on[1]]
    assert torch.equal(cuda.set[resumed_on[1]], torch.full((16,), saved_on[1], dtype=torch.uint8))


def test_an_earlier_checkpoints_list_of_cuda_states_gives_the_current_devices(monkeypatch):
    FakeCuda(monkeypatch, 4, 0)
    states = dict(get_rng_states(), cuda=torch.cuda.get_rng_state_all())
    cuda = FakeCuda(monkeypatch, 2, 1)
    set_rng_states(states)
    assert list(cuda.set) == [1] and int(cuda.set[1][0]) == 1
    cuda = FakeCuda(monkeypatch, 8, 6)  # no state saved for device 6: left as it is
    set_rng_states(states)
    assert cuda.set == {}
