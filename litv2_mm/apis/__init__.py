"""The model builder of every tool, the analysis and deployment code and the tests, in the
OpenMMLab sense of ``apis.init_detector`` / ``init_model``."""
from .inference import init_model

__all__ = ['init_model']
