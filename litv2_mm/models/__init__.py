from .convffn import ConvFFN
from .dtm import DeformableTokenMerging, deform_conv2x2_s2
from .hilo import HiLoAttention
from .litv2 import LITv2
from .reference import (ReferenceConvFFN, ReferenceDeformableTokenMerging,
                        ReferenceHiLoAttention)

__all__ = ['ConvFFN', 'DeformableTokenMerging', 'deform_conv2x2_s2', 'HiLoAttention', 'LITv2',
           'ReferenceConvFFN', 'ReferenceDeformableTokenMerging', 'ReferenceHiLoAttention']
