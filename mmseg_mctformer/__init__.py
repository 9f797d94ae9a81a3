"""MCTformer+ for MMSegmentation 1.x.

Importing this package registers every module of the plugin in MMSeg's registries (``MODELS``,
``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``) and makes ``mmseg::`` config inheritance work
with the OneDL forks of MMSeg (see :mod:`mmseg_mctformer.utils.external_configs`).
"""
from .utils.external_configs import register_fork_distributions
from .version import __version__

register_fork_distributions()

from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401,I001

__all__ = ['__version__', 'register_fork_distributions']
