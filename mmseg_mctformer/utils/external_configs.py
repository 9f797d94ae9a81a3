"""Let ``_base_ = ['mmseg::...']`` and ``['mmseg_mctformer::...']`` resolve in mmengine configs.

The work is done by the top-level module :mod:`mmseg_mctformer_scopes`, which the installed
``mmseg_mctformer_scopes.pth`` runs at interpreter start-up, so that any tool (MMSeg's own
``tools/train.py`` included) reads our configs without importing this plugin first. This module
keeps the plugin's API: :func:`register_fork_distributions` patches a mapping (default: mmengine's
``MODULE2PACKAGE``) and is called when ``mmseg_mctformer`` is imported.
"""
import mmseg_mctformer_scopes
from mmseg_mctformer_scopes import FORK_DISTRIBUTIONS, install, register_scopes

__all__ = ['FORK_DISTRIBUTIONS', 'install', 'register_fork_distributions', 'register_scopes']


def register_fork_distributions(mapping=None):
    """Map each OpenMMLab scope to the distribution installed for it, and add ours.

    Args:
        mapping (dict, optional): The mmengine mapping to update. Default: ``None``, which means
            ``mmengine.config.utils.MODULE2PACKAGE``.

    Returns:
        dict: ``{scope: distribution}`` for the fork entries that were changed.
    """
    if mapping is None:
        from mmengine.config import utils as config_utils
        register_scopes(config_utils.MODULE2PACKAGE)
        mapping = config_utils.MODULE2PACKAGE
    return mmseg_mctformer_scopes.register_fork_distributions(mapping)
