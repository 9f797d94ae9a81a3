"""Entry points of the affinity stage (PSA): train AffinityNet on the stage-1 maps, write the masks.

Configs: ``configs/affinity/``. The affinity config's ``train_dataloader`` reads the training
images with ``LoadLocalizationMaps`` + ``GenerateAffinityLabel``; its ``test_dataloader`` reads
the same images with ``LoadLocalizationMaps`` + ``PackAffinityInputs`` (and ``LoadAnnotations``
where GT masks exist, for scoring). :func:`set_maps_dir` points both at a folder of maps.
"""
import copy
import os
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.dist import barrier, get_dist_info
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from ..evaluation.mask_dir import evaluate_mask_dir
from ..evaluation.metrics.pseudo_label_metric import (
    image_size,
    is_valid_label_png,
    remove_stale_tmp,
)
from .config_utils import build_runner


def _datasets(loader_cfg):
    dataset = loader_cfg['dataset']
    while 'dataset' in dataset:  # RepeatDataset and similar wrappers
        dataset = dataset['dataset']
    return dataset


def set_maps_dir(cfg: Config, maps_dir: str) -> int:
    """Point every ``LoadLocalizationMaps`` of the train / val / test pipelines at ``maps_dir``.

    Returns:
        int: The number of transforms changed (0 means the config has none: an error).
    """
    changed = 0
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if not cfg.get(key):
            continue
        for transform in _datasets(cfg[key]).get('pipeline', []):
            if transform.get('type') == 'LoadLocalizationMaps':
                transform['maps_dir'] = maps_dir
                changed += 1
    if not changed:
        raise KeyError('set_maps_dir: the config has no LoadLocalizationMaps transform in its '
                       'train/val/test pipelines')
    return changed


def make_affinity_masks(cfg: Config, checkpoint: str, out_dir: str,
                        bg_threshold: Optional[float] = None, evaluate: bool = True) -> dict:
    """Write the random-walk masks of the ``test_dataloader`` images, resumably.

    ``Runner.test()`` runs :class:`AffinityNet` over the images whose PNG in ``out_dir`` is
    missing or unreadable (a dataset ``indices`` subset; each rank takes its shard through the
    default sampler) with :class:`PseudoMaskMetric` (``format_only=True``) as the evaluator.
    Stale temporary files of a killed run are removed first. Then (main process) the whole folder
    is scored against the GT masks when ``evaluate`` and the dataset has them.

    Args:
        cfg (Config): The affinity config (``launcher`` set for distributed runs).
        checkpoint (str): AffinityNet checkpoint.
        out_dir (str): Output folder of the PNGs.
        bg_threshold (float, optional): Background score of the random walk; None keeps
            ``model.test_cfg.bg_threshold``. Default: None.
        evaluate (bool): Score the masks (mIoU of the folder). Default: True.

    Returns:
        dict: ``out_dir``, ``written`` / ``skipped`` (images of the whole split), and with
        ``evaluate`` the keys of :func:`mmseg_mctformer.evaluation.evaluate_mask_dir` (mIoU, ...).
    """
    cfg = copy.deepcopy(cfg)
    os.makedirs(out_dir, exist_ok=True)
    rank, _ = get_dist_info()
    if rank == 0:
        remove_stale_tmp(out_dir)
    dataset_cfg = _datasets(cfg.test_dataloader)
    dataset = DATASETS.build(dict(copy.deepcopy(dataset_cfg), pipeline=[]))
    dataset.full_init()
    todo = []
    for i in range(len(dataset)):
        img_path = dataset.get_data_info(i)['img_path']
        png = osp.join(out_dir, osp.splitext(osp.basename(img_path))[0] + '.png')
        if not is_valid_label_png(png, image_size(img_path)):
            todo.append(i)
    barrier()  # every rank has listed the folder before any writes (no-op outside dist runs)
    print_log(f'make_affinity_masks: {len(todo)} of {len(dataset)} masks to write into '
              f'{out_dir}', logger='current')
    eval_dataset_cfg = copy.deepcopy(dataset_cfg)
    if todo:
        dataset_cfg['indices'] = todo
        if bg_threshold is not None:
            cfg.model.setdefault('test_cfg', {})['bg_threshold'] = float(bg_threshold)
        cfg.test_evaluator = dict(type='PseudoMaskMetric', output_dir=out_dir, format_only=True)
        if not cfg.get('test_cfg'):
            cfg.test_cfg = dict(type='TestLoop')
        cfg.load_from = checkpoint
        cfg.resume = False
        build_runner(cfg).test()
    result = dict(out_dir=out_dir, written=len(todo), skipped=len(dataset) - len(todo))
    if evaluate and rank == 0:
        result.update(evaluate_mask_dir(eval_dataset_cfg, out_dir))
    return result
