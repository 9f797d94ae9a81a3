"""mmengine config scopes: ``mmseg::`` bases on the OneDL forks, ``mmseg_mctformer::`` anywhere.

mmengine resolves a scoped base through ``mmengine.config.utils.MODULE2PACKAGE`` (import name ->
distribution, ``'mmseg' -> 'mmsegmentation'``) and reads ``<package>/.mim/configs``. Two entries
need a change:

- the OneDL forks ship ``mmseg`` / ``mmpretrain`` under other distribution names
  (``onedl-mmsegmentation``...), for which mmengine reports "mmsegmentation is not installed": the
  entry names the distribution that provides the module (on the upstream packages: unchanged);
- ``mmseg_mctformer`` (our configs, ``mmseg_mctformer/.mim/configs``) is added, and its folder is
  found where Python imports the package from: upstream mmengine looks under site-packages, where
  an editable install (``pip install -e .``) has no ``mmseg_mctformer/``.

``import mmseg_mctformer`` applies both (:func:`register_scopes`): our tools import the plugin
before they read a config, so that is all they need. A tool that reads the ``_base_`` files before
it imports the plugin (MMSeg's own ``tools/train.py``: ``custom_imports`` is processed after the
bases) needs the change at interpreter start-up, which the user asks for explicitly:
``python tools/config_scopes.py --install-pth`` writes :data:`PTH_NAME` into site-packages
(:func:`install_pth`). That file loads this module by its path, without the plugin package, and
:func:`install_import_hook` adds a ``sys.meta_path`` entry that patches mmengine's config modules
right after they are first imported. This module therefore imports nothing outside the standard
library at module level.
"""
import os
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
CONFIG_UTILS = 'mmengine.config.utils'
#: mmengine's module that calls ``get_installed_path`` for a scope's package.
CONFIG_MODULE = 'mmengine.config.config'
#: The opt-in start-up file written into site-packages by :func:`install_pth`.
PTH_NAME = 'mmseg_mctformer_config_scopes.pth'
#: Attribute marking our ``get_installed_path`` wrapper and ``sys.meta_path`` entry, so that a
#: second copy of this module (the start-up file's, then the package's) patches nothing twice.
MARK = '_mmseg_mctformer_scopes'


def _installed(dist_name):
    from importlib.metadata import PackageNotFoundError, distribution
    try:
        distribution(dist_name)
        return True
    except PackageNotFoundError:
        return False


def register_fork_distributions(mapping=None):
    """Map each OpenMMLab scope of ``mapping`` to the distribution installed for it.

    Args:
        mapping (dict, optional): Import name -> distribution, updated in place. Default: ``None``,
            which means mmengine's ``MODULE2PACKAGE``.

    Returns:
        dict: ``{scope: distribution}`` for the entries that were changed.
    """
    if mapping is None:
        from mmengine.config.utils import MODULE2PACKAGE as mapping
    changed = {}
    for scope, candidates in FORK_DISTRIBUTIONS.items():
        if _installed(mapping.get(scope, candidates[0])):
            continue
        for dist_name in candidates[1:]:
            if _installed(dist_name):
                mapping[scope] = dist_name
                changed[scope] = dist_name
                break
    return changed


def own_installed_path(get_installed_path):
    """Wrap mmengine's ``get_installed_path(package)``: for :data:`OWN_SCOPE`, when the folder it
    returns does not exist (an editable install), the folder Python imports the package from."""
    if getattr(get_installed_path, MARK, False):
        return get_installed_path

    def wrapper(package):
        path = get_installed_path(package)
        if package == OWN_SCOPE and not osp.isdir(path):
            import importlib.util
            spec = importlib.util.find_spec(OWN_SCOPE)
            if spec is not None and spec.origin is not None:
                return osp.dirname(spec.origin)
        return path

    wrapper.__wrapped__ = get_installed_path
    setattr(wrapper, MARK, True)
    return wrapper


def _patch_config_utils(module):
    changed = register_fork_distributions(module.MODULE2PACKAGE)
    if OWN_SCOPE not in module.MODULE2PACKAGE:
        module.MODULE2PACKAGE[OWN_SCOPE] = OWN_SCOPE
        changed[OWN_SCOPE] = OWN_SCOPE
    return changed


def _patch_config(module):
    module.get_installed_path = own_installed_path(module.get_installed_path)
    return {}


#: module name -> patch, applied once the module is executed.
PATCHES = {CONFIG_UTILS: _patch_config_utils, CONFIG_MODULE: _patch_config}


def register_scopes():
    """Patch mmengine's config modules (imported here) for the ``mmseg::`` / ``mmpretrain::`` forks
    and the ``mmseg_mctformer::`` scope. Called by ``import mmseg_mctformer``.

    Returns:
        dict: ``{scope: distribution}`` for the ``MODULE2PACKAGE`` entries changed now.
    """
    import mmengine.config.config  # noqa: F401
    import mmengine.config.utils  # noqa: F401
    changed = {}
    for name, patch in PATCHES.items():
        changed.update(patch(sys.modules[name]))
    return changed


class _PatchAfterImport:
    """``sys.meta_path`` entry: finds the modules of :data:`PATCHES` with the other finders and
    patches each right after it is executed; every other import is left to the other finders."""

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


setattr(_PatchAfterImport, MARK, True)


def install_import_hook():
    """At interpreter start-up (:data:`PTH_NAME`): patch mmengine's config modules now where they
    are loaded, else right after they are first imported (a ``sys.meta_path`` entry; nothing is
    imported now)."""
    for name, patch in PATCHES.items():
        if name in sys.modules:
            patch(sys.modules[name])
    if (any(name not in sys.modules for name in PATCHES)
            and not any(getattr(f, MARK, False) for f in sys.meta_path)):
        sys.meta_path.insert(0, _PatchAfterImport())


def site_packages():
    """The site-packages folder of this interpreter's environment (``sysconfig``'s purelib)."""
    import sysconfig
    return sysconfig.get_paths()['purelib']


def pth_line(module_file=None):
    """The line of :data:`PTH_NAME`: load ``module_file`` (default: this file) by its path, without
    the plugin package, and call :func:`install_import_hook`; nothing when the file is gone (the
    plugin uninstalled)."""
    path = osp.abspath(module_file or __file__)
    return ('import os, importlib.util as u; '
            f'p = {ascii(path)}; '
            "s = os.path.isfile(p) and u.spec_from_file_location('_mmseg_mctformer_config_scopes', "
            'p); m = s and u.module_from_spec(s); '
            'm and (s.loader.exec_module(m), m.install_import_hook())\n')


def install_pth(site_dir=None):
    """Write :data:`PTH_NAME` into ``site_dir`` atomically (a temporary file renamed over it).

    Args:
        site_dir (str, optional): A folder whose ``.pth`` files Python runs at start-up.
            Default: ``None``, which means :func:`site_packages`.

    Returns:
        str: The path written.
    """
    import tempfile
    site_dir = site_dir or site_packages()
    target = osp.join(site_dir, PTH_NAME)
    try:
        fd, tmp = tempfile.mkstemp(dir=site_dir, prefix=f'.{PTH_NAME}.', suffix='.tmp')
    except OSError as err:
        raise OSError(f'cannot write {target}: {err.strerror}; pass a writable site-packages '
                      'folder as --site-dir (e.g. `python -m site --user-site`)') from err
    try:
        with os.fdopen(fd, 'w', encoding='ascii') as f:
            f.write(pth_line())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    return target


def remove_pth(site_dir=None):
    """Remove :data:`PTH_NAME` from ``site_dir`` (default: :func:`site_packages`).

    Returns:
        str or None: The path removed; ``None`` when there was none.
    """
    target = osp.join(site_dir or site_packages(), PTH_NAME)
    try:
        os.remove(target)
    except FileNotFoundError:
        return None
    return target
