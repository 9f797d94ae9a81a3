"""Remap the class values of a folder of masks: another numbering, or a subset of the classes.

A WSSS dataset reads masks with 0 = background, 1..C = its C classes and 255 = ignore. Masks of
another numbering (a source dataset's ids, or more classes than you train) are rewritten through
a table ``{old value: new value}``; values the table does not name are an error (naming the file
and the values), the background or ignore, as chosen. Masks are written atomically as grey-scale
PNGs and existing outputs are kept, so an interrupted run resumes.
"""
import os
import os.path as osp
from typing import Dict, Iterable, Sequence

import numpy as np
from PIL import Image

from ...utils.io import atomic_output
from ..utils import read_mask

IGNORE_INDEX = 255
UNMAPPED = ('error', 'background', 'ignore')


def parse_mapping(pairs: Iterable[str]) -> Dict[int, int]:
    """``['7:1', '15:2']`` -> ``{7: 1, 15: 2}``; values must lie in 0..255.

    Raises:
        ValueError: Naming the pair that is not ``OLD:NEW`` with values in 0..255, or an old
            value given twice.
    """
    mapping = {}
    for pair in pairs:
        try:
            old, new = (int(v) for v in pair.split(':'))
        except ValueError:
            raise ValueError(f'mapping {pair!r}: expected OLD:NEW with integers, e.g. 7:1') \
                from None
        if not (0 <= old <= 255 and 0 <= new <= 255):
            raise ValueError(f'mapping {pair!r}: values must lie in 0..255')
        if old in mapping:
            raise ValueError(f'mapping {pair!r}: value {old} is mapped twice')
        mapping[old] = new
    return mapping


def lookup_table(mapping: Dict[int, int], unmapped: str = 'error') -> np.ndarray:
    """(256,) int16 table: the new value of each old one, -1 for an unmapped value (``error``)."""
    if unmapped not in UNMAPPED:
        raise ValueError(f'unmapped={unmapped!r}, expected one of {UNMAPPED}')
    fill = {'error': -1, 'background': 0, 'ignore': IGNORE_INDEX}[unmapped]
    table = np.full(256, fill, np.int16)
    for old, new in mapping.items():
        table[old] = new
    return table


def remap_mask(mask: np.ndarray, table: np.ndarray, source: str = 'mask') -> np.ndarray:
    """Remap one (H, W) mask through ``table``; unmapped values (-1) raise naming ``source``."""
    out = table[mask.astype(np.int64)]
    if (out < 0).any():
        values = sorted(int(v) for v in np.unique(mask[out < 0]))
        raise ValueError(f'{source}: values {values} are not in the mapping; map them, or pass '
                         "unmapped='background' / 'ignore' (--unmapped)")
    return out.astype(np.uint8)


def remap_masks(src_dir: str, dst_dir: str, mapping: Dict[int, int], unmapped: str = 'error',
                suffix: str = '.png', names: Sequence[str] = None,
                overwrite: bool = False) -> Dict[str, int]:
    """Remap every mask ``src_dir/*{suffix}`` (or those of ``names``) into ``dst_dir``.

    Args:
        src_dir (str): Folder of the masks (palette or grey-scale PNGs).
        dst_dir (str): Output folder (may not be ``src_dir``).
        mapping (dict[int, int]): Old value -> new value.
        unmapped (str): What an unmapped value becomes: ``'error'``, ``'background'`` (0) or
            ``'ignore'`` (255). Default: ``'error'``.
        suffix (str): Mask file suffix. Default: ``'.png'``.
        names (Sequence[str], optional): Mask names without suffix (e.g. a split file's
            lines); by default every mask of ``src_dir``. Default: None.
        overwrite (bool): Rewrite existing outputs. Default: False (resume).

    Returns:
        dict[str, int]: ``written`` and ``skipped`` counts.
    """
    if osp.abspath(src_dir) == osp.abspath(dst_dir):
        raise ValueError(f'dst_dir {dst_dir} is the source folder; write the remapped masks to '
                         'another folder')
    if not osp.isdir(src_dir):
        raise FileNotFoundError(f'mask folder {src_dir} does not exist')
    table = lookup_table(mapping, unmapped)
    if names is None:
        names = sorted(f[:-len(suffix)] for f in os.listdir(src_dir) if f.endswith(suffix))
    os.makedirs(dst_dir, exist_ok=True)
    counts = dict(written=0, skipped=0)
    for name in names:
        out_path = osp.join(dst_dir, name + suffix)
        if not overwrite and osp.isfile(out_path):
            counts['skipped'] += 1
            continue
        src = osp.join(src_dir, name + suffix)
        mask = remap_mask(read_mask(src), table, src)
        with atomic_output(out_path, suffix='.png') as tmp:
            Image.fromarray(mask).save(tmp, format='PNG')  # (H, W) uint8: grey-scale
        counts['written'] += 1
    return counts
