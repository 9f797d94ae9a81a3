"""Let ``_base_ = ['mmseg::...']`` resolve when MMSeg is installed as a fork.

mmengine finds the configs of another OpenMMLab package through the distribution that provides it
(``mmengine.config.utils.MODULE2PACKAGE``: ``'mmseg' -> 'mmsegmentation'``). The maintained OneDL
forks we install ship the same import names (``mmseg``, ``mmpretrain``) under other distribution
names (``onedl-mmsegmentation``, ``onedl-mmpretrain``), so mmengine reports "mmsegmentation is not
installed". :func:`register_fork_distributions` points the mapping at whichever distribution really
provides the module. It only changes an entry whose upstream distribution is absent, and is called
when ``mmseg_mctformer`` is imported (our tools import it before reading a config).
"""
import logging
from importlib.metadata import PackageNotFoundError, distribution

#: import name -> distributions that may provide it, upstream first.
FORK_DISTRIBUTIONS = {
    'mmseg': ('mmsegmentation', 'onedl-mmsegmentation'),
    'mmpretrain': ('mmpretrain', 'onedl-mmpretrain'),
    'mmdet': ('mmdet', 'onedl-mmdetection'),
}

logger = logging.getLogger(__name__)


def _installed(dist_name):
    try:
        distribution(dist_name)
        return True
    except PackageNotFoundError:
        return False


def register_fork_distributions(mapping=None):
    """Map each OpenMMLab scope to the distribution installed for it.

    Args:
        mapping (dict, optional): The mmengine mapping to update. Default: ``None``, which means
            ``mmengine.config.utils.MODULE2PACKAGE``.

    Returns:
        dict: ``{scope: distribution}`` for the entries that were changed.
    """
    if mapping is None:
        from mmengine.config import utils as config_utils
        mapping = config_utils.MODULE2PACKAGE
    changed = {}
    for scope, candidates in FORK_DISTRIBUTIONS.items():
        if _installed(mapping.get(scope, candidates[0])):
            continue
        for dist_name in candidates[1:]:
            if _installed(dist_name):
                mapping[scope] = dist_name
                changed[scope] = dist_name
                logger.debug('config scope %r resolved through distribution %r', scope, dist_name)
                break
    return changed
