"""Metric names that say which split they were measured on: ``{task}/{split}/{name}``.

WSSS numbers are easily compared across splits (VOC seed mIoU on ``train``, 1,464 images, against
``train_aug``, 10,582, or ``val``). The runner's metrics are named ``{task}/{name}``
(``seed/mIoU``, ``cls/mAP``; MMSeg's ``IoUMetric`` gives plain ``mIoU``); the pipeline state, its
tables and ``tools/eval_seeds.py`` add the split-named copy (``seed/val/mIoU``,
``seg/val/mIoU``) beside each of them, so both names read the same value.
"""
import numbers
import os.path as osp
from typing import Optional

from ..datasets.utils import unwrap_dataset_cfg


def split_key(key: str, split: str, task: Optional[str] = None) -> str:
    """``seed/mIoU`` -> ``seed/{split}/mIoU``; ``mIoU`` -> ``{task}/{split}/mIoU``.

    Args:
        key (str): A metric name, with or without a ``task/`` prefix.
        split (str): The split name (e.g. ``'val'``, ``'train_aug'``).
        task (str, optional): Prefix for a key that has none (e.g. ``'seg'``). Default: None.

    Returns:
        str: The split-named key.
    """
    if '/' in key:
        head, tail = key.split('/', 1)
        return f'{head}/{split}/{tail}'
    return f'{task}/{split}/{key}' if task else f'{split}/{key}'


def add_split_keys(metrics: dict, split: Optional[str], task: Optional[str] = None) -> dict:
    """A copy of ``metrics`` with a split-named key (:func:`split_key`) beside every scalar.

    The original keys are kept, so readers of ``seed/mIoU`` and of ``seed/val/mIoU`` get the same
    number. ``split=None`` returns a plain copy.
    """
    named = dict(metrics)
    if split:
        for key, value in metrics.items():
            if isinstance(value, numbers.Real):
                named.setdefault(split_key(key, split, task), value)
    return named


def read_metric(metrics: dict, key: str, split: Optional[str] = None,
                task: Optional[str] = None):
    """``metrics[split_key(key, split, task)]``, else ``metrics[key]``, else None."""
    if split and split_key(key, split, task) in metrics:
        return metrics[split_key(key, split, task)]
    return metrics.get(key)


def split_name(dataloader_cfg: dict, default: Optional[str] = None) -> Optional[str]:
    """The split a dataloader config reads: its dataset's ``ann_file`` without folder and suffix.

    ``ImageSets/Segmentation/train_aug.txt`` -> ``'train_aug'``. Wrappers (``dataset``) are
    unwrapped; the first of a ``ConcatDataset``'s ``datasets`` is named (``+`` joins several).
    Returns ``default`` when no ``ann_file`` is set.
    """
    dataset = unwrap_dataset_cfg((dataloader_cfg or {}).get('dataset') or {})
    leaves = dataset.get('datasets') or [dataset]
    names = [osp.splitext(osp.basename(d.get('ann_file') or ''))[0] for d in leaves]
    names = [n for n in names if n]
    return '+'.join(names) if names else default
