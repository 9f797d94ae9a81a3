"""Config scopes for mmengine, set at interpreter start-up (``mmseg_mctformer_scopes.pth``).

mmengine resolves ``_base_ = ['mmseg::...']`` through ``mmengine.config.utils.MODULE2PACKAGE``
(import name -> distribution, ``'mmseg' -> 'mmsegmentation'``) and reads the configs under the
package's ``.mim/configs``. Two things need a change there, and they must happen before any
config is parsed, i.e. before a tool such as MMSeg's own ``tools/train.py`` could import our
plugin (``custom_imports`` is processed only after the ``_base_`` files are read):

- the maintained OneDL forks ship ``mmseg`` / ``mmpretrain`` under other distribution names
  (``onedl-mmsegmentation``...), so mmengine reports "mmsegmentation is not installed": the
  entry is pointed at the distribution that really provides the module;
- ``mmseg_mctformer::`` (our configs, installed as ``mmseg_mctformer/.mim/configs``) is added.

The installed ``mmseg_mctformer_scopes.pth`` runs :func:`install` when Python starts. It costs an
entry in ``sys.meta_path``: ``mmengine.config.utils`` is patched right after it is first imported
(nothing is imported eagerly). ``import mmseg_mctformer`` calls :func:`install` as well, for
environments where site-packages ``.pth`` files are not processed (``python -S``).
"""
import importlib.abc
import importlib.util
import logging
import sys

#: import name -> distributions that may provide it, upstream first.
FORK_DISTRIBUTIONS = {
    'mmseg': ('mmsegmentation', 'onedl-mmsegmentation'),
    'mmpretrain': ('mmpretrain', 'onedl-mmpretrain'),
    'mmdet': ('mmdet', 'onedl-mmdetection'),
}
#: Our own scope: ``_base_ = ['mmseg_mctformer::_base_/default_runtime.py']``.
OWN_SCOPE = 'mmseg_mctformer'
TARGET = 'mmengine.config.utils'

logger = logging.getLogger(__name__)


def _installed(dist_name):
    from importlib.metadata import PackageNotFoundError, distribution  # not at start-up
    try:
        distribution(dist_name)
        return True
    except PackageNotFoundError:
        return False


def register_fork_distributions(mapping):
    """Map each OpenMMLab scope of ``mapping`` to the distribution installed for it.

    Args:
        mapping (dict): mmengine's ``MODULE2PACKAGE``.

    Returns:
        dict: ``{scope: distribution}`` for the entries that were changed.
    """
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


def register_scopes(mapping):
    """Fork distributions (:func:`register_fork_distributions`) and the ``mmseg_mctformer::``
    scope (its import name works where the distribution lookup does not)."""
    changed = register_fork_distributions(mapping)
    if OWN_SCOPE not in mapping:
        mapping[OWN_SCOPE] = OWN_SCOPE
        changed[OWN_SCOPE] = OWN_SCOPE
    return changed


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds ``mmengine.config.utils`` with the other finders and patches it once executed."""

    def find_spec(self, fullname, path, target=None):
        if fullname != TARGET:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, 'find_spec'):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                break
        else:
            return None
        exec_module = spec.loader.exec_module

        def exec_and_patch(module):
            exec_module(module)
            register_scopes(module.MODULE2PACKAGE)
        spec.loader.exec_module = exec_and_patch
        return spec


def install():
    """Patch ``MODULE2PACKAGE`` now if mmengine's config utils are loaded, else when they are."""
    module = sys.modules.get(TARGET)
    if module is not None:
        return register_scopes(module.MODULE2PACKAGE)
    if not any(isinstance(f, _PatchAfterImport) for f in sys.meta_path):
        sys.meta_path.insert(0, _PatchAfterImport())
    return {}
