"""Registries of the ``mmseg_mctformer`` scope: children of MMSeg's, holding nothing of their own.

A config that inherits ``_base_ = ['mmseg_mctformer::...']`` gets ``_scope_='mmseg_mctformer'``
in every dict of those bases; mmengine then imports this module and builds through these
children, which find every name in MMSeg's registries (where the plugin registers its modules)
and their parents. Without them mmengine would warn and fall back for each build.
"""
from mmengine.registry import Registry
from mmseg import registry as mmseg_registry

SCOPE = 'mmseg_mctformer'
__all__ = []

for _name in mmseg_registry.__all__:
    _parent = getattr(mmseg_registry, _name)
    if isinstance(_parent, Registry):
        globals()[_name] = Registry(_parent.name, parent=_parent, scope=SCOPE,
                                    locations=['mmseg_mctformer'])
        __all__.append(_name)
