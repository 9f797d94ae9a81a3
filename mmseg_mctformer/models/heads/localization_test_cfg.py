"""The test-time settings of the MCTformer localisation maps: defaults, allowed values, aliases.

One place for what ``model.test_cfg`` of an ``MCTformer`` may hold: the segmentor parses its
``test_cfg`` with :func:`parse_test_cfg`, and the tools that fill in a config's test-time
augmentation (``mmseg_mctformer.cli.configure_test``) read :data:`DEFAULT_TEST_CFG` from here.
The meaning of every key is documented on :class:`~mmseg_mctformer.models.MCTformer`.
"""
import warnings
from typing import Optional

from ...utils.console import print_log_once
from ..utils.localization import ATTN_REDUCES, FUSION_MODES, MAP_TYPES

#: How the attention is read at test time (the backbone's ``attn_path``): ``'sdpa'`` (class-token
#: rows and q / k, the affinity as an attention; memory linear in the tokens) or ``'explicit'``
#: (every block's (C + M) x (C + M) attention; memory quadratic in the tokens).
ATTN_PATHS = ('sdpa', 'explicit')
#: How an image is resized per test scale.
RESIZE_MODES = ('bilinear_patch_multiple', 'authors')

DEFAULT_TEST_CFG = dict(
    scales=(1.0, 0.5, 1.5, 2.0),
    flip=True,
    map_type='fused_affinity',
    top_k=3,
    attn_reduce='sum',
    fusion='product',
    affinity_layers='all',
    minmax_eps=1e-5,
    use_gt_labels=True,
    score_thr=0.5,
    bg_threshold=0.45,
    patch_size=None,
    mode='whole',
    attn_path='sdpa',
    max_tokens=10000,
    resize_mode='bilinear_patch_multiple',
)

#: Old names of test_cfg values, ``{key: {old value: new value}}``, accepted with a deprecation
#: warning: ``attn_path='fused'`` named the scaled-dot-product kernel, a word that ``map_type``
#: uses for the attention x PatchCAM maps.
VALUE_ALIASES = {'attn_path': {'fused': 'sdpa'}}


def resolve_aliases(test_cfg: Optional[dict]) -> dict:
    """A copy of ``test_cfg`` with the old values of :data:`VALUE_ALIASES` replaced by their
    names; each old value is warned about once a process (mmengine's ``print_log``)."""
    cfg = dict(test_cfg or {})
    for key, aliases in VALUE_ALIASES.items():
        old = cfg.get(key)
        if isinstance(old, str) and old in aliases:
            print_log_once(('test_cfg', key, old),
                           f"MCTformer: test_cfg['{key}'] = {old!r} is deprecated, use "
                           f'{aliases[old]!r} (same behaviour)')
            cfg[key] = aliases[old]
    return cfg


def parse_test_cfg(test_cfg: Optional[dict], has_cam_head: bool = True) -> dict:
    """:data:`DEFAULT_TEST_CFG` updated with ``test_cfg`` (aliases resolved), checked.

    Args:
        test_cfg (dict, optional): The model's ``test_cfg``.
        has_cam_head (bool): Whether the model has a PatchCAM head (the ``patchcam*`` and
            ``fused*`` map types need one). Default: True.

    Returns:
        dict: Every key of :data:`DEFAULT_TEST_CFG`; ``scales`` a tuple of floats.

    Raises:
        ValueError: Naming the key, the value seen and the values allowed.
    """
    given = resolve_aliases(test_cfg)
    cfg = dict(DEFAULT_TEST_CFG)
    unknown = set(given) - set(cfg)
    if unknown:
        warnings.warn(f'MCTformer: test_cfg keys {sorted(unknown)} are ignored; known keys '
                      f'are {sorted(cfg)}')
    cfg.update(given)
    for key, allowed in (('map_type', MAP_TYPES), ('fusion', FUSION_MODES),
                         ('attn_reduce', ATTN_REDUCES)):
        if cfg[key] not in allowed:
            raise ValueError(f"MCTformer: test_cfg['{key}'] = {cfg[key]!r}, expected one of "
                             f'{allowed}')
        if key == 'map_type' and cfg[key].startswith(('patchcam', 'fused')) and not has_cam_head:
            raise ValueError(f"MCTformer: test_cfg['map_type'] = {cfg['map_type']!r} needs a "
                             'cam_head, got cam_head=None')
    if cfg['mode'] != 'whole':
        raise ValueError(f"MCTformer: test_cfg['mode'] = {cfg['mode']!r}, only 'whole' is "
                         'supported (the maps need the whole image)')
    if not cfg['scales'] or any(s <= 0 for s in cfg['scales']):
        raise ValueError(f"MCTformer: test_cfg['scales'] must be positive, got "
                         f"{cfg['scales']}")
    cfg['scales'] = tuple(float(s) for s in cfg['scales'])
    for key, allowed in (('attn_path', ATTN_PATHS), ('resize_mode', RESIZE_MODES)):
        if cfg[key] not in allowed:
            raise ValueError(f"MCTformer: test_cfg['{key}'] = {cfg[key]!r}, expected one of "
                             f'{allowed}')
    max_tokens = cfg['max_tokens']
    if max_tokens is not None and (isinstance(max_tokens, bool)
                                   or not isinstance(max_tokens, int) or max_tokens < 1):
        raise ValueError(f"MCTformer: test_cfg['max_tokens'] = {max_tokens!r}, expected a "
                         'positive int or None')
    return cfg
