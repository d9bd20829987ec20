from .amp import (CPUAmpOptimWrapper, CPUAmpTestLoop, CPUAmpValLoop, autocast_features,
                  cpu_amp_config, inference_amp_available, inference_amp_config, inference_autocast)
from .atomic_backend import AtomicLocalBackend
from .distributed import CPUDistributedDataParallel, cpu_wrapper_config, prepare_cpu_distributed
from .hooks import DIVERGED_MARKER, CheckpointFitHook, ExactResumeHook, FiniteLossHook
from .layer_decay import BackboneLayerDecayOptimWrapperConstructor, backbone_layer_depth
from .loops import ResumableEpochBasedTrainLoop, ResumableIterBasedTrainLoop
from .preemption import (PREEMPTED_EXIT_STATUS, PREEMPTED_MARKER, PreemptionHook,
                         StopSignalsToMainProcess, elastic_restart_count)
from .runner import LITv2Runner, check_not_diverged
from .sample_seeding import (SampleKey, SampleSeedingBatchSampler, SeededPipeline, sample_seed,
                             seed_every_sample)

__all__ = ['AtomicLocalBackend', 'CPUAmpOptimWrapper', 'CPUAmpTestLoop',
           'CPUAmpValLoop', 'autocast_features', 'cpu_amp_config', 'inference_amp_available',
           'inference_amp_config', 'inference_autocast', 'CPUDistributedDataParallel',
           'CheckpointFitHook', 'ExactResumeHook', 'FiniteLossHook', 'LITv2Runner',
           'PREEMPTED_EXIT_STATUS', 'PreemptionHook', 'ResumableEpochBasedTrainLoop',
           'ResumableIterBasedTrainLoop', 'elastic_restart_count', 'prepare_cpu_distributed']
__all__ += ['BackboneLayerDecayOptimWrapperConstructor', 'backbone_layer_depth',
            'DIVERGED_MARKER', 'PREEMPTED_MARKER', 'SampleKey', 'SampleSeedingBatchSampler',
            'SeededPipeline', 'StopSignalsToMainProcess', 'check_not_diverged',
            'cpu_wrapper_config', 'sample_seed', 'seed_every_sample']
