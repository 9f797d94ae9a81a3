"""Score a folder of label PNGs (seeds or pseudo-masks) against a dataset's ground-truth masks."""
import copy
import os.path as osp
from typing import Union

import numpy as np
import torch
from mmengine.logging import print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import DATASETS

from ..datasets.utils import read_mask
from .metrics.seed_metric import summarize_areas


def _build_dataset(dataset):
    if isinstance(dataset, dict):
        cfg = copy.deepcopy(dataset)
        cfg['pipeline'] = []  # only the data infos are needed
        dataset = DATASETS.build(cfg)
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    return dataset


def evaluate_mask_dir(dataset: Union[dict, object], pred_dir: str, ignore_index: int = 255,
                      suffix: str = '.png') -> dict:
    """mIoU, aAcc and FP / FN rates of the masks ``{pred_dir}/{image basename}{suffix}``.

    Each data info of ``dataset`` must give ``img_path`` (naming the prediction) and
    ``seg_map_path`` (the GT mask: 0 = background, 1..C, ``ignore_index``). Predictions are read
    as class indices (palette or grey PNGs, as the :class:`PseudoLabelHook` writes them).

    Args:
        dataset (dict | BaseDataset): Dataset config (its pipeline is not used) or dataset.
        pred_dir (str): Folder of the predicted masks.
        ignore_index (int): GT value that is not evaluated. Default: 255.
        suffix (str): Suffix of the prediction files. Default: '.png'.

    Returns:
        dict: ``mIoU``, ``aAcc``, ``FP``, ``FN`` (%, see
        :func:`mmseg_mctformer.evaluation.metrics.seed_metric.summarize_areas`), ``IoU_per_class``
        and ``num_images``.
    """
    if not osp.isdir(pred_dir):
        raise FileNotFoundError(f'evaluate_mask_dir: prediction folder {pred_dir} does not exist')
    dataset = _build_dataset(dataset)
    class_names = dataset.metainfo['classes']
    num_classes = len(class_names)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    no_gt = [d['img_path'] for d in infos if not d.get('seg_map_path')]
    if no_gt:
        raise KeyError(f'evaluate_mask_dir: {len(no_gt)} images have no GT mask (data info '
                       f'"seg_map_path"), first: {no_gt[:3]}')
    pred_paths = [osp.join(pred_dir, osp.splitext(osp.basename(d['img_path']))[0] + suffix)
                  for d in infos]
    missing = [p for p in pred_paths if not osp.isfile(p)]
    if missing:
        raise FileNotFoundError(f'evaluate_mask_dir: {len(missing)} of {len(infos)} predictions '
                                f'are missing in {pred_dir}, first: {missing[:3]}')
    totals = [torch.zeros(num_classes, dtype=torch.float64) for _ in range(4)]
    for info, pred_path in zip(infos, pred_paths):
        pred = read_mask(pred_path)
        gt = read_mask(info['seg_map_path'])
        if pred.shape != gt.shape:
            raise ValueError(f'evaluate_mask_dir: {pred_path} has shape {pred.shape}, the GT mask '
                             f'{info["seg_map_path"]} has {gt.shape}')
        areas = IoUMetric.intersect_and_union(
            torch.from_numpy(pred.astype(np.int64)), torch.from_numpy(gt.astype(np.int64)),
            num_classes, ignore_index)
        for total, area in zip(totals, areas):
            total += area.double()
    result = summarize_areas(*totals, class_names, title=f'masks of {pred_dir}')
    result['num_images'] = len(infos)
    print_log(f'evaluate_mask_dir: {len(infos)} masks of {pred_dir}: mIoU {result["mIoU"]:.2f}',
              logger='current')
    return result
