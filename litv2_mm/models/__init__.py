from .convffn import ConvFFN
from .dtm import DeformableTokenMerging, deform_conv2x2_s2
from .hilo import HiLoAttention
from .litv2 import LITv2

__all__ = ['ConvFFN', 'DeformableTokenMerging', 'deform_conv2x2_s2', 'HiLoAttention', 'LITv2']
