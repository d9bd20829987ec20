from .atomic_backend import AtomicLocalBackend
from .distributed import CPUDistributedDataParallel, prepare_cpu_distributed
from .safe_checkpoint import (SafeCheckpointHook, enable_safe_checkpoints, to_safe_types,
                              trust_checkpoint)

__all__ = ['AtomicLocalBackend', 'CPUDistributedDataParallel', 'SafeCheckpointHook',
           'enable_safe_checkpoints', 'prepare_cpu_distributed', 'to_safe_types',
           'trust_checkpoint']
