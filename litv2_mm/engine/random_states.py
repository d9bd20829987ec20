"""Save and restore every random state a training process draws from: Python, numpy, torch's
CPU generator and the generator of this process's own CUDA device.

The states are plain Python and numpy values, no tensors: a checkpoint that holds them is
read back bitwise whatever ``map_location`` it is loaded with (mmengine's ``Runner.resume``
loads to ``get_device()``, a GPU on a GPU node; tensors would come back as CUDA tensors,
which ``torch.set_rng_state`` refuses). A rank draws only from its own device, so only that
device's CUDA state is kept: a run resumed on a node that shows another number of GPUs
restores each rank's state to the device the rank uses.
"""
import logging
import random
from typing import Union

import numpy as np
import torch
from mmengine.logging import print_log


def _as_array(state: torch.Tensor) -> np.ndarray:
    return state.cpu().numpy().copy()


def _as_byte_tensor(state: Union[np.ndarray, torch.Tensor]) -> torch.Tensor:
    """A state saved by :func:`get_rng_states` (a uint8 array) or in an earlier litv2_mm
    checkpoint (a ByteTensor, on whatever device the checkpoint was loaded to) as a CPU
    ByteTensor."""
    if isinstance(state, np.ndarray):
        return torch.from_numpy(state.copy())
    if state.device.type == 'meta':
        raise ValueError('a random state was loaded to the meta device, which keeps no data: '
                         "load the checkpoint with map_location='cpu'")
    return state.cpu()


def get_rng_states() -> dict:
    """Python, numpy, torch CPU and (where CUDA is in use) the current CUDA device's random
    states: ``dict(python=tuple, numpy=tuple, torch=uint8 array[, cuda=uint8 array])``."""
    states = dict(python=random.getstate(), numpy=np.random.get_state(),
                  torch=_as_array(torch.get_rng_state()))
    if torch.cuda.is_available():
        states['cuda'] = _as_array(torch.cuda.get_rng_state(torch.cuda.current_device()))
    return states


def set_rng_states(states: dict) -> None:
    """Restore what :func:`get_rng_states` returned, the CUDA state to this process's current
    device. Also reads the states of earlier checkpoints (tensors on any device; a list of
    every visible device's CUDA states, of which the current device's is taken)."""
    random.setstate(states['python'])
    np.random.set_state(states['numpy'])
    torch.set_rng_state(_as_byte_tensor(states['torch']))
    cuda = states.get('cuda')
    if cuda is None or not torch.cuda.is_available():
        return
    device = torch.cuda.current_device()
    if isinstance(cuda, (list, tuple)):  # every visible device's states (earlier checkpoints)
        if device >= len(cuda):
            print_log(f'the checkpoint holds CUDA random states of {len(cuda)} devices, none for '
                      f'this process\'s device {device}: its CUDA state is not restored',
                      logger='current', level=logging.WARNING)
            return
        cuda = cuda[device]
    torch.cuda.set_rng_state(_as_byte_tensor(cuda), device)
