"""Let ``_base_ = ['mmseg::...']`` and ``['mmseg_mctformer::...']`` resolve in mmengine configs.

The work is done by the top-level module :mod:`mmseg_mctformer_scopes`, which the installed
``mmseg_mctformer_scopes.pth`` runs at interpreter start-up, so that any tool (MMSeg's own
``tools/train.py`` included) reads our configs without importing this plugin first. This module
keeps the plugin's API: :func:`register_fork_distributions` patches a mapping (default: mmengine's
``MODULE2PACKAGE``) and is called when ``mmseg_mctformer`` is imported.
"""
try:
    import mmseg_mctformer_scopes
except ImportError:  # an editable install made before the module existed: reinstall for the .pth
    import importlib.util
    import os.path as osp
    import sys
    _path = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.realpath(__file__)))),
                     'mmseg_mctformer_scopes.py')
    _spec = importlib.util.spec_from_file_location('mmseg_mctformer_scopes', _path)
    mmseg_mctformer_scopes = importlib.util.module_from_spec(_spec)
    sys.modules['mmseg_mctformer_scopes'] = mmseg_mctformer_scopes
    _spec.loader.exec_module(mmseg_mctformer_scopes)

FORK_DISTRIBUTIONS = mmseg_mctformer_scopes.FORK_DISTRIBUTIONS
install = mmseg_mctformer_scopes.install
register_scopes = mmseg_mctformer_scopes.register_scopes

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
        install()  # both mmengine.config modules are loaded now: patched at once
        mapping = config_utils.MODULE2PACKAGE
    return mmseg_mctformer_scopes.register_fork_distributions(mapping)
