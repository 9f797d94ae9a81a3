"""Which OpenMMLab distributions provide ``mmengine``, ``mmcv``, ``mmseg`` and ``mmpretrain``, and
whether the plugin supports them; checked when ``mmseg_mctformer`` is imported.

They are not in ``install_requires``: each import name comes from the upstream distribution
(``mmsegmentation``...) or from a maintained OneDL fork (``onedl-mmsegmentation``...), and a
requirement cannot say "A or B" (PEP 508). A requirement on either would make pip install it over
the other, which owns the same import folder. So :func:`check_openmmlab` runs at import instead:
a missing package, or one older than the supported range, raises an ``ImportError`` that names
the package, the version seen and the versions that work; a newer one than we tested warns.
The two stacks we test are listed in ``docs/en/installation.md``.

This module imports nothing of OpenMMLab (it runs before ``mmengine`` is imported).
"""
import importlib.util
import re
import warnings
from importlib.metadata import PackageNotFoundError, version
from typing import Dict, Optional, Tuple

#: import name -> distributions that provide it, upstream first.
OPENMMLAB_DISTRIBUTIONS = {
    'mmengine': ('mmengine', 'onedl-mmengine'),
    'mmcv': ('mmcv', 'mmcv-lite', 'onedl-mmcv'),
    'mmseg': ('mmsegmentation', 'onedl-mmsegmentation'),
    'mmpretrain': ('mmpretrain', 'onedl-mmpretrain'),
}
#: import name -> (lowest supported version, first version not tested). The lowest are those of
#: the upstream stack of ``docs/en/installation.md``, the tested tops those of the OneDL stack.
SUPPORTED = {
    'mmengine': ('0.10.7', '0.11'),
    'mmcv': ('2.1.0', '2.3'),
    'mmseg': ('1.2.2', '1.5'),
    'mmpretrain': ('1.2.0', '1.4'),
}
INSTALL_HINT = ('see docs/en/installation.md: either the upstream packages (mmengine==0.10.7, '
                'mmcv==2.1.0 with its compiled ops, mmsegmentation==1.2.2, mmpretrain==1.2.0) or '
                'the OneDL forks (onedl-mmengine, mmcv-lite, onedl-mmsegmentation, '
                'onedl-mmpretrain; `make setup`)')


def parse_version(text: str) -> Tuple[int, ...]:
    """``'1.2.2rc1'`` -> ``(1, 2, 2)``: the leading numeric release of a version string."""
    match = re.match(r'\d+(\.\d+)*', text.strip())
    if match is None:
        raise ValueError(f'parse_version: {text!r} does not start with a version number')
    return tuple(int(p) for p in match.group(0).split('.'))


def installed_distributions(name: str) -> Dict[str, str]:
    """``{distribution: version}`` of the installed distributions that provide import ``name``
    (a key of :data:`OPENMMLAB_DISTRIBUTIONS`)."""
    found = {}
    for dist in OPENMMLAB_DISTRIBUTIONS[name]:
        try:
            found[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return found


def check_openmmlab(name: str, found: Optional[Dict[str, str]] = None) -> Tuple[str, str]:
    """Check the distribution that provides the OpenMMLab import ``name``.

    Args:
        name (str): ``'mmengine'``, ``'mmcv'``, ``'mmseg'`` or ``'mmpretrain'``.
        found (dict, optional): ``{distribution: version}``; by default what is installed
            (:func:`installed_distributions`).

    Returns:
        tuple[str, str]: The distribution and its version.

    Raises:
        ImportError: None installed, or a version below :data:`SUPPORTED`.
    """
    if found is None:
        found = installed_distributions(name)
    low, top = SUPPORTED[name]
    if not found:
        dists = ' or '.join(OPENMMLAB_DISTRIBUTIONS[name])
        raise ImportError(f'mmseg_mctformer needs `{name}` ({dists} >= {low}), none is '
                          f'installed; {INSTALL_HINT}')
    if len(found) > 1:
        warnings.warn(f'mmseg_mctformer: {sorted(found)} are all installed and all provide '
                      f'`{name}/` (the files of one overwrite the other\'s); keep one of them')
    dist, seen = next(iter(found.items()))
    if parse_version(seen) < parse_version(low):
        raise ImportError(f'mmseg_mctformer needs {dist} >= {low} for `{name}`, found {dist}=='
                          f'{seen}; {INSTALL_HINT}')
    if parse_version(seen) >= parse_version(top):
        warnings.warn(f'mmseg_mctformer is tested with `{name}` < {top}, found {dist}=={seen}')
    return dist, seen


def check_stack():
    """Check the four OpenMMLab packages (:func:`check_openmmlab`), and that upstream
    ``mmsegmentation`` has the compiled ``mmcv`` ops it imports (``mmcv-lite`` has none; the
    OneDL fork of mmseg works without them).

    Returns:
        dict: ``{import name: (distribution, version)}``.

    Raises:
        ImportError: See :func:`check_openmmlab`; upstream mmsegmentation without ``mmcv._ext``.
    """
    stack = {name: check_openmmlab(name) for name in OPENMMLAB_DISTRIBUTIONS}
    if stack['mmseg'][0] == 'mmsegmentation' and importlib.util.find_spec('mmcv._ext') is None:
        mmcv_dist, mmcv_version = stack['mmcv']
        raise ImportError(
            f'upstream mmsegmentation=={stack["mmseg"][1]} imports mmcv\'s compiled ops, and '
            f'{mmcv_dist}=={mmcv_version} has none (no mmcv._ext): install mmcv==2.1.0 built with '
            f'its ops (MMCV_WITH_OPS=1 pip install --no-build-isolation mmcv==2.1.0), or use the '
            f'OneDL forks, which run without them; {INSTALL_HINT}')
    return stack
