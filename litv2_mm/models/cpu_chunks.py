"""Chunk sizes for CPU inference.

A CPU has no caching allocator: every buffer above glibc's mmap threshold (32 MB) is fresh
memory whose page faults cost about as much as the arithmetic on it, and a buffer that
outgrows the last-level cache is streamed from memory again by every following op. Layers
whose work is independent per image or per row therefore run without autograd in chunks
whose widest intermediate holds at most ``CPU_CHUNK_ELEMENTS`` elements (8 MB in fp32).
"""

import torch

CPU_CHUNK_ELEMENTS = 2 ** 21


def on_cpu_without_autocast(x):
    """Whether ``x`` is a CPU tensor outside CPU autocast (where the chunked paths apply)."""
    return x.device.type == 'cpu' and not torch.is_autocast_enabled('cpu')


def images_per_chunk(elements_per_image):
    """How many images whose widest intermediate has ``elements_per_image`` elements fit in
    one chunk (at least 1)."""
    return max(1, CPU_CHUNK_ELEMENTS // max(1, elements_per_image))
