"""Entry points of the affinity stage (PSA): train AffinityNet on the stage-1 maps, write the masks.

Configs: ``configs/affinity/``. The affinity config's ``train_dataloader`` reads the training
images with ``LoadLocalizationMaps`` + ``GenerateAffinityLabel``; its ``test_dataloader`` reads
the same images with ``LoadLocalizationMaps`` + ``PackAffinityInputs`` (and ``LoadAnnotations``
where GT masks exist, for scoring). :func:`set_maps_dir` points both at a folder of maps.
"""
import copy
import os.path as osp
from typing import Optional

from mmengine.config import Config
from mmengine.dist import broadcast_object_list, get_dist_info
from mmengine.logging import print_log
from mmseg.registry import DATASETS

from ..evaluation.mask_dir import evaluate_mask_dir
from ..evaluation.metrics.pseudo_label_metric import RECORD_FILE, pseudo_label_dir
from ..models.segmentors.affinity_net import DEFAULT_TEST_CFG
from ..utils.checkpoint import check_checkpoint_file, checkpoint_record
from ..utils.label_dir import LabelDir
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


#: Record of the settings that produced a random-walk mask folder.
MASK_RECORD_FILE = 'affinity_mask_info.json'
#: Record keys whose change changes the masks (the checkpoint by content, not by path).
MASK_RECORD_KEYS = ('checkpoint_sha256', 'maps', 'bg_threshold', 'test_cfg', 'precision')


def mask_dir(out_dir: str) -> LabelDir:
    """The :class:`~mmseg_mctformer.utils.label_dir.LabelDir` of a random-walk mask folder
    (record ``affinity_mask_info.json``, keys :data:`MASK_RECORD_KEYS`)."""
    return LabelDir(out_dir, MASK_RECORD_FILE, MASK_RECORD_KEYS, kind='random-walk mask',
                    overwrite_hint='overwrite=True (tools/make_affinity_masks.py --overwrite)')


def get_maps_dir(cfg: Config) -> str:
    """The ``maps_dir`` of the ``LoadLocalizationMaps`` of the config's test pipeline."""
    for transform in _datasets(cfg.test_dataloader).get('pipeline', []):
        if transform.get('type') == 'LoadLocalizationMaps':
            return transform['maps_dir']
    raise KeyError('get_maps_dir: the test_dataloader pipeline has no LoadLocalizationMaps')


def maps_source(maps_dir: str) -> dict:
    """What produced a folder of stage-1 maps, from its ``pseudo_label_info.json``.

    Returns:
        dict: ``checkpoint_sha256`` (or, in records without it, ``checkpoint``: the stage-1
        checkpoint's path, size and time), ``test_cfg`` (map settings) and ``precision``; for a
        folder without a record only its absolute path ``dir``.
    """
    record = pseudo_label_dir(maps_dir).read_record()
    if record is None:
        return dict(dir=osp.abspath(maps_dir))
    source = dict(test_cfg=record.get('test_cfg'), precision=record.get('precision'))
    if record.get('checkpoint_sha256'):
        source['checkpoint_sha256'] = record['checkpoint_sha256']
    else:
        source['checkpoint'] = record.get('checkpoint')
    return source


def check_maps_source(maps_dir: str, checkpoint_sha256: str, what: str,
                      checkpoint: Optional[str] = None) -> None:
    """Refuse maps that were not written by the stage-1 checkpoint of SHA-256
    ``checkpoint_sha256``.

    Args:
        maps_dir (str): Folder of the maps (with the ``pseudo_label_info.json`` of their writer).
        checkpoint_sha256 (str): The expected stage-1 checkpoint.
        what (str): Who expects it (named in the message).
        checkpoint (str, optional): Its path: a record without ``checkpoint_sha256`` (written
            before records had it) is accepted when it names this file. Default: None.

    Raises:
        ValueError: If the folder has no record, or its record names another checkpoint.
    """
    record = pseudo_label_dir(maps_dir).read_record()
    if record is None:
        raise ValueError(f'{what}: the maps folder {maps_dir} has no record '
                         f'{RECORD_FILE} of the stage-1 checkpoint that wrote it; expected '
                         f'maps of the checkpoint with SHA-256 {checkpoint_sha256}')
    if (checkpoint is not None and 'checkpoint_sha256' not in record
            and str(record.get('checkpoint', '')).startswith(osp.abspath(checkpoint) + ' (')):
        return
    if record.get('checkpoint_sha256') != checkpoint_sha256:
        raise ValueError(
            f'{what}: the maps in {maps_dir} were written by {record.get("checkpoint")} '
            f'(SHA-256 {record.get("checkpoint_sha256")}), expected the stage-1 checkpoint with '
            f'SHA-256 {checkpoint_sha256}. Regenerate the maps with that checkpoint '
            '(tools/make_pseudo_labels.py --save-logits --overwrite) or delete the stage '
            'results that used the other one.')


def make_affinity_masks(cfg: Config, checkpoint: str, out_dir: str,
                        bg_threshold: Optional[float] = None, evaluate: bool = True,
                        overwrite: bool = False, fp16: bool = False) -> dict:
    """Write the random-walk masks of the ``test_dataloader`` images, resumably.

    ``Runner.test()`` runs :class:`AffinityNet` over the images whose PNG in ``out_dir`` is
    missing or unreadable (a dataset ``indices`` subset; each rank takes its shard through the
    default sampler) with :class:`PseudoMaskMetric` (``format_only=True``) as the evaluator.
    ``{out_dir}/affinity_mask_info.json`` records what produces the masks: the checkpoint (by
    SHA-256), the maps (:func:`maps_source`), the background threshold, the random-walk settings
    ``test_cfg`` and the precision. A rerun with other settings is refused (``ValueError`` naming
    the differences) unless ``overwrite``, which deletes the old masks. The checkpoint must fit
    the model (:func:`~mmseg_mctformer.utils.checkpoint.check_checkpoint_file`). Stale
    temporary files of a killed run are removed first. Then (main process) the whole folder is
    scored against the GT masks when ``evaluate`` and the dataset has them.

    Args:
        cfg (Config): The affinity config (``launcher`` set for distributed runs).
        checkpoint (str): AffinityNet checkpoint.
        out_dir (str): Output folder of the PNGs.
        bg_threshold (float, optional): Background score of the random walk; None keeps
            ``model.test_cfg.bg_threshold``. Default: None.
        evaluate (bool): Score the masks (mIoU of the folder). Default: True.
        overwrite (bool): Regenerate a folder made with other settings instead of refusing.
            Default: False.
        fp16 (bool): Mixed precision (``TestLoop(fp16=True)``: bfloat16 on a CPU, as
            ``tools/run_pipeline.py --amp`` there); a ``test_cfg.fp16`` of the config counts too.
            Recorded as ``precision``. Default: False.

    Returns:
        dict: ``out_dir``, ``written`` / ``skipped`` (images of the whole split), and with
        ``evaluate`` the keys of :func:`mmseg_mctformer.evaluation.evaluate_mask_dir` (mIoU, ...).
    """
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'make_affinity_masks: checkpoint file {checkpoint} does not '
                                'exist')
    cfg = copy.deepcopy(cfg)
    rank, _ = get_dist_info()
    if bg_threshold is not None:
        cfg.model.setdefault('test_cfg', {})['bg_threshold'] = float(bg_threshold)
    if not cfg.get('test_cfg'):
        cfg.test_cfg = dict(type='TestLoop')
    fp16 = bool(fp16 or cfg.test_cfg.get('fp16'))
    if fp16:
        cfg.test_cfg['fp16'] = True
    test_cfg = dict(DEFAULT_TEST_CFG, **(cfg.model.get('test_cfg') or {}))
    record = dict(**checkpoint_record(checkpoint), config=getattr(cfg, 'filename', None),
                  maps=maps_source(get_maps_dir(cfg)), bg_threshold=test_cfg['bg_threshold'],
                  test_cfg=test_cfg)
    if fp16:  # absent = float32
        record['precision'] = 'mixed (autocast)'
    folder = mask_dir(out_dir)
    folder.prepare(record, overwrite)
    dataset_cfg = _datasets(cfg.test_dataloader)
    dataset = DATASETS.build(dict(copy.deepcopy(dataset_cfg), pipeline=[]))
    dataset.full_init()
    # the main process lists the folder and every rank shards that list
    todo = [folder.pending(dataset) if rank == 0 else None]
    broadcast_object_list(todo)
    todo = todo[0]
    print_log(f'make_affinity_masks: {len(todo)} of {len(dataset)} masks to write into '
              f'{out_dir}', logger='current')
    eval_dataset_cfg = copy.deepcopy(dataset_cfg)
    if todo:
        dataset_cfg['indices'] = todo
        cfg.test_evaluator = dict(type='PseudoMaskMetric', output_dir=out_dir, format_only=True)
        cfg.load_from = checkpoint
        cfg.resume = False
        runner = build_runner(cfg)
        # mmengine loads with strict=False: refuse a checkpoint of another architecture
        check_checkpoint_file(runner.model, checkpoint, what='the AffinityNet of the config')
        runner.test()
    result = dict(out_dir=out_dir, written=len(todo), skipped=len(dataset) - len(todo))
    if evaluate and rank == 0:
        result.update(evaluate_mask_dir(eval_dataset_cfg, out_dir))
    return result
