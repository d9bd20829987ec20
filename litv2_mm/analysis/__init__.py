"""Analysis helpers (HiLo branch spectra: ``litv2_mm.analysis.spectrum``)."""
from .spectrum import capture_branches, default_layers, fft_magnitude, mean_spectra, radial_profile

__all__ = ['capture_branches', 'default_layers', 'fft_magnitude', 'mean_spectra',
           'radial_profile']

# FLOPs counting, benchmarks, the reference (authors' formulation) and the attention layers
# HiLo is compared against.
from .attention_variants import (MultiHeadSelfAttention, SDPAMultiHeadSelfAttention,
                                 SpatialReductionAttention, WindowAttention, comparison_layers)
from .benchmark import Settings, measure_peak_memory, run_benchmark
from .flops import authors_count, complete_count, hilo_attention_products
from .model_specs import TensorForward, build_model

__all__ += ['MultiHeadSelfAttention', 'SDPAMultiHeadSelfAttention', 'SpatialReductionAttention',
            'WindowAttention', 'comparison_layers', 'Settings', 'measure_peak_memory',
            'run_benchmark', 'authors_count', 'complete_count', 'hilo_attention_products',
            'TensorForward', 'build_model']
