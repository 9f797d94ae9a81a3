"""MCTformer+ for MMSegmentation 1.x.

Importing this package registers every module of the plugin in MMSeg's registries (``MODELS``,
``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``), makes the ``mmseg::`` and
``mmseg_mctformer::`` config scopes work for every config read afterwards
(:mod:`mmseg_mctformer.utils.config_scopes`), after checking the OpenMMLab packages
(:mod:`mmseg_mctformer.stack`), and filters the import-time noise of MMSeg's forks and
mmcv-lite that we cannot fix at its source (see :mod:`mmseg_mctformer.utils.console`).
"""
from .stack import check_stack

check_stack()  # the OpenMMLab packages: an ImportError that says what to install

from .utils.config_scopes import register_fork_distributions, register_scopes  # noqa: E402
from .utils.console import filter_known_warnings, quiet_imports  # noqa: E402
from .version import __version__  # noqa: E402

register_scopes()
filter_known_warnings()

with quiet_imports():  # the forks print "Could not import OneDL" while being imported
    import mmpretrain.datasets  # noqa: F401,E402,I001
    import mmseg.datasets  # noqa: F401,E402

    from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401

__all__ = ['__version__', 'register_fork_distributions', 'register_scopes']
