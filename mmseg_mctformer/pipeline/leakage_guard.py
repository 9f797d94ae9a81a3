"""Guard against training a segmentor on the ground truth it is evaluated against (label leakage).

A WSSS segmentor trains on pseudo-masks; pointing its training masks at the dataset's GT folder
(``pseudo_label_dir=<data_root>/SegmentationClassAug``) turns the run into a fully supervised one
whose number looks like a weakly supervised result. :func:`check_training_masks` refuses such a
config unless the user asks for a GT baseline (``--allow-gt-masks``, ``run_pipeline.py
--gt-baseline``).

A training mask folder is the GT when it resolves to a GT folder (``os.path.realpath``: symlinks
and ``..`` included) or when most files of an evenly spaced sample are byte-equal to the
same-named files of a GT folder (a copy of it).
"""
import logging
import os
import os.path as osp
from typing import Iterable, List, Optional

from mmengine.logging import print_log

#: Folder names of ground-truth masks under a dataset root (VOC / SBD and COCO layouts).
GT_MASK_DIR_NAMES = ('SegmentationClassAug', 'SegmentationClass')
#: Number of training masks compared byte by byte with each GT folder.
SAMPLE_SIZE = 8


class GTMaskLeakageError(RuntimeError):
    """The training masks of a config are the ground-truth masks."""


def _leaf_datasets(dataset):
    """The dataset configs below ``RepeatDataset`` (``dataset``) and ``ConcatDataset``
    (``datasets``) wrappers."""
    if 'datasets' in dataset:
        return [leaf for d in dataset['datasets'] for leaf in _leaf_datasets(d)]
    if 'dataset' in dataset:
        return _leaf_datasets(dataset['dataset'])
    return [dataset]


def _seg_map_dir(dataset):
    """``data_root`` joined with ``data_prefix.seg_map_path`` (as mmengine joins them), or None."""
    path = (dataset.get('data_prefix') or {}).get('seg_map_path')
    if not path:
        return None
    return osp.abspath(osp.join(dataset.get('data_root') or '', path))


def _loads_annotations(pipeline):
    for transform in pipeline or []:
        kind = transform.get('type') if isinstance(transform, dict) else None
        name = kind if isinstance(kind, str) else getattr(kind, '__name__', '')
        if name.split('.')[-1] == 'LoadAnnotations':
            return True
    return False


def training_mask_dirs(cfg) -> List[str]:
    """The mask folders the training split of ``cfg`` learns from.

    A training dataset counts when its pipeline (or its wrapper's) has ``LoadAnnotations``; the
    image-label datasets of stage 1 do not load masks and give none.
    """
    loader = cfg.get('train_dataloader') or {}
    top = loader.get('dataset') or {}
    dirs = []
    for dataset in _leaf_datasets(top):
        if _loads_annotations(dataset.get('pipeline')) or _loads_annotations(top.get('pipeline')):
            path = _seg_map_dir(dataset)
            if path and path not in dirs:
                dirs.append(path)
    return dirs


def gt_mask_dirs(cfg, extra_gt_dirs: Iterable[str] = ()) -> List[str]:
    """The existing ground-truth mask folders a config's data can be checked against.

    The mask folders of ``val_dataloader`` and ``test_dataloader``, the folders named in
    :data:`GT_MASK_DIR_NAMES` under every ``data_root`` of the config, and ``extra_gt_dirs``.
    """
    found = [osp.abspath(d) for d in extra_gt_dirs if d]
    roots = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key) or {}
        for dataset in _leaf_datasets(loader.get('dataset') or {}):
            if dataset.get('data_root'):
                roots.append(dataset['data_root'])
            if key != 'train_dataloader' and _seg_map_dir(dataset):
                found.append(_seg_map_dir(dataset))
    found += [osp.abspath(osp.join(root, name)) for root in roots for name in GT_MASK_DIR_NAMES]
    unique = []
    for path in found:
        if osp.isdir(path) and path not in unique:
            unique.append(path)
    return unique


def _sample(names, size):
    if len(names) <= size:
        return names
    step = len(names) / size
    return [names[int(i * step)] for i in range(size)]


def _same_bytes(path_a, path_b):
    if osp.getsize(path_a) != osp.getsize(path_b):
        return False
    with open(path_a, 'rb') as a, open(path_b, 'rb') as b:
        return a.read() == b.read()


def find_gt_match(mask_dir: str, gt_dirs: Iterable[str],
                  sample_size: int = SAMPLE_SIZE) -> Optional[str]:
    """The GT folder that ``mask_dir`` is, or None.

    Args:
        mask_dir (str): A training mask folder.
        gt_dirs (Iterable[str]): Ground-truth mask folders.
        sample_size (int): Most PNGs of ``mask_dir`` compared (evenly spaced over the sorted
            names). Default: :data:`SAMPLE_SIZE`.

    Returns:
        str | None: A description of the match (``'<gt dir> (same folder)'`` or ``'<gt dir>
        (k of n sampled masks byte-equal)'``) when ``mask_dir`` resolves to a GT folder or at
        least half of the compared masks are byte-equal to it; None otherwise.
    """
    real = osp.realpath(mask_dir)
    gt_dirs = list(gt_dirs)
    for gt in gt_dirs:
        if osp.realpath(gt) == real:
            return f'{gt} (same folder)'
    if not osp.isdir(mask_dir):
        return None
    names = _sample(sorted(n for n in os.listdir(mask_dir) if n.endswith('.png')), sample_size)
    for gt in gt_dirs:
        pairs = [(osp.join(mask_dir, n), osp.join(gt, n)) for n in names
                 if osp.isfile(osp.join(gt, n))]
        equal = sum(_same_bytes(a, b) for a, b in pairs)
        if pairs and 2 * equal >= len(pairs):
            return f'{gt} ({equal} of {len(pairs)} sampled masks byte-equal)'
    return None


def check_training_masks(cfg, allow_gt_masks: bool = False, extra_gt_dirs: Iterable[str] = (),
                         source: str = 'config') -> Optional[str]:
    """Refuse a config whose training masks are the dataset's ground truth.

    Args:
        cfg (Config): The training config.
        allow_gt_masks (bool): Train anyway (a fully supervised baseline); a warning is logged.
            Default: False.
        extra_gt_dirs (Iterable[str]): More GT folders to check against (the pipeline passes the
            stage-1 training split's GT masks). Default: ().
        source (str): How the config is named in the messages. Default: ``'config'``.

    Returns:
        str | None: The match (see :func:`find_gt_match`) when the masks are the GT and
        ``allow_gt_masks`` is set, else None.

    Raises:
        GTMaskLeakageError: The masks are the GT and ``allow_gt_masks`` is not set.
    """
    gt_dirs = gt_mask_dirs(cfg, extra_gt_dirs)
    for mask_dir in training_mask_dirs(cfg):
        match = find_gt_match(mask_dir, gt_dirs)
        if match is None:
            continue
        if not allow_gt_masks:
            raise GTMaskLeakageError(
                f'{source}: the training masks train_dataloader.dataset.data_prefix.seg_map_path '
                f'= {mask_dir} are the ground-truth masks {match}; expected pseudo-masks (e.g. '
                "pseudo_label_dir='<work_dir>/pseudo_labels'). Pass --allow-gt-masks to train a "
                'fully supervised (GT) baseline on purpose.')
        print_log(f'{source}: training on the ground-truth masks {match} (--allow-gt-masks): '
                  'a fully supervised baseline, not a WSSS result', logger='current',
                  level=logging.WARNING)
        return match
    return None
