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
from mmengine.dist import get_dist_info

from ..datasets.utils import unwrap_dataset_cfg
from ..engine.runner import build_runner, set_bg_threshold
from ..evaluation.mask_dir import evaluate_mask_dir
from ..utils.checkpoint import check_checkpoint_file, checkpoint_record
from ..utils.label_dir import LabelDir


def set_maps_dir(cfg: Config, maps_dir: str) -> int:
    """Point every ``LoadLocalizationMaps`` of the train / val / test pipelines at ``maps_dir``.

    Returns:
        int: The number of transforms changed (0 means the config has none: an error).
    """
    changed = 0
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        if not cfg.get(key):
            continue
        for transform in unwrap_dataset_cfg(cfg[key]).get('pipeline', []):
            if transform.get('type') == 'LoadLocalizationMaps':
                transform['maps_dir'] = maps_dir
                changed += 1
    if not changed:
        raise KeyError('set_maps_dir: the config has no LoadLocalizationMaps transform in its '
                       'train/val/test pipelines')
    return changed


def get_maps_dir(cfg: Config) -> str:
    """The ``maps_dir`` of the ``LoadLocalizationMaps`` of the config's test pipeline."""
    for transform in unwrap_dataset_cfg(cfg.test_dataloader).get('pipeline', []):
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
    record = LabelDir.of('pseudo_label', maps_dir).read_record()
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
    folder = LabelDir.of('pseudo_label', maps_dir)
    record = folder.read_record()
    if record is None:
        raise ValueError(f'{what}: the maps folder {maps_dir} has no record '
                         f'{folder.record_file} of the stage-1 checkpoint that wrote it; expected '
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
    missing or unreadable (its test loop a
    :class:`~mmseg_mctformer.engine.runner.PseudoLabelLoop`: each rank takes its shard) with
    :class:`PseudoMaskMetric` (``format_only=True``) as the evaluator.
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
        bg_threshold (float, optional): Background score of the random walk, written into the
            model's ``test_cfg.bg_threshold`` (:func:`set_bg_threshold`); None keeps the
            config's. Default: None.
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
    os.makedirs(out_dir, exist_ok=True)
    cfg = set_bg_threshold(copy.deepcopy(cfg), bg_threshold)
    fp16 = bool(fp16 or (cfg.get('test_cfg') or {}).get('fp16'))
    # the model's test_cfg (random-walk settings, bg_threshold) completes the record
    record = dict(**checkpoint_record(checkpoint), config=getattr(cfg, 'filename', None),
                  maps=maps_source(get_maps_dir(cfg)), bg_threshold=None, test_cfg=None)
    if fp16:  # absent = float32
        record['precision'] = 'mixed (autocast)'
    cfg.test_cfg = dict(type='PseudoLabelLoop', out_dir=out_dir, record=record,
                        kind='affinity_mask', overwrite=overwrite, fp16=fp16)
    cfg.test_evaluator = dict(type='PseudoMaskMetric', output_dir=out_dir, format_only=True)
    cfg.load_from = checkpoint
    cfg.resume = False
    runner = build_runner(cfg)
    # mmengine loads with strict=False: refuse a checkpoint of another architecture
    check_checkpoint_file(runner.model, checkpoint, what='the AffinityNet of the config')
    runner.test()
    summary = runner.test_loop.summary
    result = dict(out_dir=out_dir, written=summary['pending'], skipped=summary['skipped'])
    if evaluate and get_dist_info()[0] == 0:
        result.update(evaluate_mask_dir(unwrap_dataset_cfg(cfg.test_dataloader), out_dir))
    return result
