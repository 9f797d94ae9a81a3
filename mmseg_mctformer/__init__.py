"""MCTformer+ for MMSegmentation 1.x.

Importing this package registers every module of the plugin in MMSeg's registries (``MODELS``,
``DATASETS``, ``TRANSFORMS``, ``METRICS``, ``HOOKS``), makes the ``mmseg::`` and
``mmseg_mctformer::`` config scopes work (see :mod:`mmseg_mctformer_scopes`; the installed
``.pth`` does it at start-up already), after checking the OpenMMLab packages
(:mod:`mmseg_mctformer.stack`), and filters the import-time noise of MMSeg's forks and
mmcv-lite that we cannot fix at its source (see :mod:`mmseg_mctformer.utils.console`).
"""
from .stack import check_stack

check_stack()  # the OpenMMLab packages: an ImportError that says what to install

from .utils.console import filter_known_warnings, quiet_imports  # noqa: E402
from .utils.external_configs import register_fork_distributions  # noqa: E402
from .version import __version__  # noqa: E402

register_fork_distributions()
filter_known_warnings()

with quiet_imports():  # the forks print "Could not import OneDL" while being imported
    import mmpretrain.datasets  # noqa: F401,E402,I001
    import mmseg.datasets  # noqa: F401,E402

    from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401

__all__ = ['__version__', 'register_fork_distributions']
