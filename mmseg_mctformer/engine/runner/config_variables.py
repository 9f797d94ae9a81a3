"""Top-level config variables that set nested keys, and the paths a training reads.

mmengine resolves a variable such as ``num_classes`` inside the file that uses it, so a config
that inherits ``model = dict(backbone=dict(num_classes=num_classes), ...)`` and sets
``num_classes = 10`` itself changes the variable but not the model. :func:`sync_top_level_variables`
closes that gap for the variables of :data:`TOP_LEVEL_VARIABLES`: set once at the top of a config
(or with ``--cfg-options num_classes=10``), each reaches every key it stands for.
"""
import os
import os.path as osp

from ...datasets.utils import unwrap_dataset_cfg

#: Top-level variable -> the nested keys it sets (those missing from a config are skipped).
TOP_LEVEL_VARIABLES = {
    'num_classes': ('model.backbone.num_classes', 'model.cls_head.num_classes',
                    'model.cam_head.num_classes'),
    'pretrained': ('model.backbone.init_cfg.checkpoint', ),
    'data_root': tuple(f'{loader}.dataset.data_root' for loader in (
        'train_dataloader', 'val_dataloader', 'test_dataloader', 'pseudo_label_dataloader')),
}


def _parent(cfg, key):
    """The dict holding the last part of ``key`` (dataset wrappers descended), or None."""
    node = getattr(cfg, '_cfg_dict', cfg)  # an mmengine Config holds a ConfigDict (a dict)
    parts = key.split('.')
    for part in parts[:-1]:
        if not isinstance(node, dict) or node.get(part) is None:
            return None
        node = node[part]
        if part == 'dataset':
            node = unwrap_dataset_cfg(node)  # RepeatDataset and similar wrappers
    return node if isinstance(node, dict) and parts[-1] in node else None


def sync_top_level_variables(cfg, forced=None):
    """Write each top-level variable of :data:`TOP_LEVEL_VARIABLES` into its nested keys.

    Without ``forced`` (a config file just read) a variable is written when all its nested keys
    hold one value that differs from it: the file set the variable and inherited the keys; keys
    that differ among themselves were set one by one and stay. With ``forced`` (the variables
    given by ``--cfg-options``) only those are written, to every key. The ``model.`` keys are
    those of an ``MCTformer`` model (other models name their classes and weights otherwise).

    Args:
        cfg (Config): The config, changed in place.
        forced (Iterable[str], optional): Variables to write unconditionally, and only them.
            Default: None.

    Returns:
        list[str]: The keys that were changed.
    """
    changed = []
    is_mctformer = (cfg.get('model') or {}).get('type') in ('MCTformer', 'mmseg.MCTformer')
    for name, keys in TOP_LEVEL_VARIABLES.items():
        if cfg.get(name) is None or (forced is not None and name not in forced):
            continue
        value = cfg[name]
        holders = [(key, _parent(cfg, key)) for key in keys
                   if is_mctformer or not key.startswith('model.')]
        holders = [(key, parent) for key, parent in holders if parent is not None]
        current = {repr(parent[key.rsplit('.', 1)[1]]) for key, parent in holders}
        if forced is None and (len(current) != 1 or current == {repr(value)}):
            continue
        for key, parent in holders:
            leaf = key.rsplit('.', 1)[1]
            if parent[leaf] != value:
                parent[leaf] = value
                changed.append(key)
    return changed


def _pretrained_keys(node, prefix):
    """(dotted key, checkpoint) of every ``init_cfg=dict(type='Pretrained', ...)`` below node."""
    if isinstance(node, dict):
        if node.get('type') == 'Pretrained' and node.get('checkpoint'):
            yield f'{prefix}.checkpoint', node['checkpoint']
        for key, value in node.items():
            yield from _pretrained_keys(value, f'{prefix}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _pretrained_keys(value, f'{prefix}.{i}')


def check_config_paths(cfg):
    """Check that the weights a training starts from exist; the error names the config key.

    Checked: every ``Pretrained`` ``init_cfg`` of ``cfg.model`` and ``load_from``. URLs and
    ``scheme://`` paths are left to mmengine.

    Raises:
        FileNotFoundError: Naming the key, its value and the folder relative paths are read from.
    """
    paths = list(_pretrained_keys(cfg.get('model'), 'model'))
    if cfg.get('load_from'):
        paths.append(('load_from', cfg.load_from))
    for key, path in paths:
        if '://' in str(path) or osp.isfile(path):
            continue
        hint = ("set the config's top-level `pretrained = '/path/to/weights.pth'`"
                if key == 'model.backbone.init_cfg.checkpoint' else
                f'set it in your config or with --cfg-options {key}=/path/to/weights.pth')
        raise FileNotFoundError(
            f'{cfg.filename or "config"}: {key} = {path!r} does not exist (relative paths are '
            f'read from the working folder {os.getcwd()}); {hint}')
