"""Install litv2_mm: ``pip install -e .`` (see tools/setup_env.sh for the full stack)."""
import os.path as osp

from setuptools import find_packages, setup

here = osp.dirname(osp.abspath(__file__))
version = {}
with open(osp.join(here, 'litv2_mm', 'version.py')) as f:
    exec(f.read(), version)

setup(
    name='litv2_mm',
    version=version['__version__'],
    description='LITv2 and HiLo attention for mmdetection, mmsegmentation and mmpretrain',
    long_description=(open(osp.join(here, 'README.md')).read()
                      if osp.exists(osp.join(here, 'README.md')) else ''),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['litv2_mm', 'litv2_mm.*']),
    python_requires='>=3.10',
    install_requires=[
        'torch>=2.1,<2.14',
        'torchvision>=0.16,<0.29',
        'mmengine==0.10.7',
        'mmcv>=2.1.0,<2.2.0',
        'mmdet>=3.3.0,<3.4',
        'mmsegmentation>=1.2.2,<1.3',
        'mmpretrain>=1.2.0,<1.3',
        'pycocotools>=2.0.7',
        'ftfy',
        'regex',
        'numpy>=1.24,<2.4',
        'setuptools>=77.0.3,<81',
        'matplotlib>=3.7',
        'Pillow>=9',
        'tqdm',
    ],
    extras_require={
        'tests': ['pytest>=7', 'hypothesis>=6'],
        'onnx': ['onnx>=1.16', 'onnxruntime>=1.18'],
    },
    license='Apache-2.0',
)
