"""``generated(make_fn, **params)``: a generator's output in a fresh temporary folder."""
import pytest


@pytest.fixture(scope='module')
def generated(tmp_path_factory):
    def make(make_fn, **params):
        out = tmp_path_factory.mktemp(make_fn.__name__)
        make_fn(out, **params)
        return out
    return make
