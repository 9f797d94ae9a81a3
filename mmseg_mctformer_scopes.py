"""Config scopes for mmengine, set at interpreter start-up (``mmseg_mctformer_scopes.pth``).

mmengine resolves ``_base_ = ['mmseg::...']`` through ``mmengine.config.utils.MODULE2PACKAGE``
(import name -> distribution, ``'mmseg' -> 'mmsegmentation'``) and reads the configs under the
package's ``.mim/configs``. Two things need a change there, and they must happen before any
config is parsed, i.e. before a tool such as MMSeg's own ``tools/train.py`` could import our
plugin (``custom_imports`` is processed only after the ``_base_`` files are read):

- the maintained OneDL forks ship ``mmseg`` / ``mmpretrain`` under other distribution names
  (``onedl-mmsegmentation``...), so mmengine reports "mmsegmentation is not installed": the
  entry is pointed at the distribution that really provides the module;
- ``mmseg_mctformer::`` (our configs, installed as ``mmseg_mctformer/.mim/configs``) is added,
  and its folder is found where Python imports the package from: an editable install
  (``pip install -e .``) has no ``mmseg_mctformer/`` under site-packages, where upstream
  mmengine's ``get_installed_path`` looks (the forks fall back to the import location themselves).

On the upstream packages (distributions ``mmsegmentation``, ``mmpretrain``) the first change does
nothing; the second is what lets MMSeg's own ``tools/train.py`` read a config that inherits ours.

The installed ``mmseg_mctformer_scopes.pth`` runs :func:`install` when Python starts. It costs an
entry in ``sys.meta_path``: ``mmengine.config.utils`` is patched right after it is first imported
(nothing is imported eagerly). ``import mmseg_mctformer`` calls :func:`install` as well, for
environments where site-packages ``.pth`` files are not processed (``python -S``).
"""
import functools
import importlib.abc
import importlib.util
import logging
import os.path as osp
import sys

#: import name -> distributions that may provide it, upstream first.
FORK_DISTRIBUTIONS = {
    'mmseg': ('mmsegmentation', 'onedl-mmsegmentation'),
    'mmpretrain': ('mmpretrain', 'onedl-mmpretrain'),
    'mmdet': ('mmdet', 'onedl-mmdetection'),
}
#: Our own scope: ``_base_ = ['mmseg_mctformer::_base_/default_runtime.py']``.
OWN_SCOPE = 'mmseg_mctformer'
#: mmengine's module holding ``MODULE2PACKAGE``.
TARGET = 'mmengine.config.utils'
#: mmengine's module that calls ``get_installed_path`` for a scope's package.
CONFIG_MODULE = 'mmengine.config.config'

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


def own_installed_path(get_installed_path):
    """Wrap mmengine's ``get_installed_path(package)``: for :data:`OWN_SCOPE`, when the folder it
    returns does not exist (an editable install), the folder Python imports the package from."""
    if getattr(get_installed_path, '_mmseg_mctformer', False):
        return get_installed_path

    @functools.wraps(get_installed_path)
    def wrapper(package):
        path = get_installed_path(package)
        if package == OWN_SCOPE and not osp.isdir(path):
            spec = importlib.util.find_spec(OWN_SCOPE)
            if spec is not None and spec.origin is not None:
                return osp.dirname(spec.origin)
        return path

    wrapper._mmseg_mctformer = True
    return wrapper


def _patch_config_utils(module):
    register_scopes(module.MODULE2PACKAGE)


def _patch_config(module):
    module.get_installed_path = own_installed_path(module.get_installed_path)


#: module name -> patch applied right after the module is executed.
PATCHES = {TARGET: _patch_config_utils, CONFIG_MODULE: _patch_config}


class _PatchAfterImport(importlib.abc.MetaPathFinder):
    """Finds the modules of :data:`PATCHES` with the other finders and patches each once
    executed."""

    def find_spec(self, fullname, path, target=None):
        patch = PATCHES.get(fullname)
        if patch is None:
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
            patch(module)
        spec.loader.exec_module = exec_and_patch
        return spec


def install():
    """Patch mmengine's config modules now where they are loaded, else when they are.

    Returns:
        dict: ``{scope: distribution}`` for the ``MODULE2PACKAGE`` entries changed now.
    """
    changed = {}
    for name, patch in PATCHES.items():
        module = sys.modules.get(name)
        if module is None:
            continue
        if name == TARGET:
            changed = register_scopes(module.MODULE2PACKAGE)
        else:
            patch(module)
    if (any(name not in sys.modules for name in PATCHES)
            and not any(isinstance(f, _PatchAfterImport) for f in sys.meta_path)):
        sys.meta_path.insert(0, _PatchAfterImport())
    return changed
