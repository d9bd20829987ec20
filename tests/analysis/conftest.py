"""Load the command-line tools of tools/analysis as modules."""
import importlib.util
import os.path as osp

import pytest

TOOLS = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))), 'tools',
                 'analysis')


@pytest.fixture
def load_tool():
    """``load_tool('benchmark')`` -> the module tools/analysis/benchmark.py."""
    def load(name):
        spec = importlib.util.spec_from_file_location(f'tool_{name}', osp.join(TOOLS, f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    return load
