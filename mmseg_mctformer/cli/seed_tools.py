"""Runner-level entry points of the seed tools (``tools/make_pseudo_labels.py``,
``tools/eval_seeds.py``, ``tools/visualize_maps.py``).

Which images: ``split_dataloader`` reads the split from the config. The split to label is the
top-level config key ``pseudo_label_dataloader`` (a test-style dataloader over the training images,
with ``LoadAnnotations`` when GT masks exist so that seeds can be scored); configs without it fall
back to ``test_dataloader``.
"""
import copy
import os.path as osp
from typing import Optional, Sequence

import mmcv
import torch
from mmengine.config import Config
from mmengine.dist import is_main_process
from mmengine.runner import Runner
from mmseg.apis import init_model

from ..datasets.utils import unwrap_dataset_cfg
from ..engine.hooks.pseudo_label_hook import PseudoLabelHook
from ..engine.runner import build_full_dataset, build_runner, set_bg_threshold
from ..evaluation.mask_dir import evaluate_mask_dir
from ..utils.checkpoint import check_checkpoint_file
from ..utils.label_dir import dataset_palette
from ..visualization import LocalizationMapVisualizer

#: ``--split`` values: the config key of each one's dataloader.
SPLIT_KEYS = {
    'pseudo_label': 'pseudo_label_dataloader',
    'train': 'train_dataloader',
    'val': 'val_dataloader',
    'test': 'test_dataloader',
}


def split_dataloader(cfg: Config, split: Optional[str] = None) -> dict:
    """Test-style dataloader config of a split.

    Args:
        cfg (Config): The experiment config.
        split (str, optional): One of :data:`SPLIT_KEYS`. ``'train'`` keeps the train dataset but
            takes the pipeline and loader settings of ``pseudo_label_dataloader`` (else
            ``test_dataloader``): training augmentations would spoil the maps. Default: None,
            which means ``pseudo_label_dataloader`` when the config has it, else
            ``test_dataloader``.

    Returns:
        dict: A dataloader config (a deep copy).
    """
    if split is None:
        split = 'pseudo_label' if cfg.get('pseudo_label_dataloader') else 'test'
    if split not in SPLIT_KEYS:
        raise ValueError(f'unknown split {split!r}; expected one of {sorted(SPLIT_KEYS)}')
    key = SPLIT_KEYS[split]
    if not cfg.get(key):
        raise KeyError(f'the config has no {key!r} for split {split!r}')
    loader = copy.deepcopy(cfg[key])
    if split != 'train':
        return loader
    template_key = 'pseudo_label_dataloader' if cfg.get('pseudo_label_dataloader') else \
        'test_dataloader'
    template = copy.deepcopy(cfg[template_key])
    dataset = unwrap_dataset_cfg(loader)
    dataset['pipeline'] = template['dataset']['pipeline']
    template['dataset'] = dataset
    return template


def make_pseudo_labels(cfg: Config, checkpoint: str, out_dir: Optional[str] = None,
                       split: Optional[str] = None, bg_threshold: Optional[float] = None,
                       save_logits: bool = False, crf: Optional[dict] = None,
                       overwrite: bool = False, fp16: bool = False) -> dict:
    """Write the seed PNGs of a split through ``Runner.test()``.

    The runner's test loop runs over the images whose mask is missing, with
    :class:`~mmseg_mctformer.evaluation.PseudoLabelMetric` as evaluator (the writer, as
    ``IoUMetric(format_only=True)``); see :class:`~mmseg_mctformer.engine.PseudoLabelHook` for
    resuming, the settings record of the folder and distributed runs.

    Args:
        cfg (Config): The experiment config (``launcher`` set for distributed runs).
        checkpoint (str): Model checkpoint.
        out_dir (str, optional): Output folder. Default: None (``{work_dir}/pseudo_labels``).
        split (str, optional): See :func:`split_dataloader`. Default: None.
        bg_threshold (float, optional): Background threshold, written into the model's
            ``test_cfg.bg_threshold`` (:func:`set_bg_threshold`); None keeps the config's.
            Default: None.
        save_logits (bool): Also save the maps as ``.npz``. Default: False.
        crf (dict, optional): Dense-CRF settings (None: no CRF). Default: None.
        overwrite (bool): Regenerate a folder made with other settings instead of refusing.
            Default: False.
        fp16 (bool): Mixed precision (``TestLoop(fp16=True)``: bfloat16 on a CPU); recorded in
            the folder. Default: False.

    Returns:
        dict: ``out_dir``, ``written`` (this rank) and ``skipped``.
    """
    cfg = set_bg_threshold(copy.deepcopy(cfg), bg_threshold)
    loader = split_dataloader(cfg, split)
    hook = PseudoLabelHook(dataloader=loader, out_dir=out_dir, after_train=False,
                           save_logits=save_logits, crf=crf, overwrite=overwrite,
                           checkpoint=checkpoint, fp16=fp16)
    # the runner's test loop labels the pending images, with the writer as evaluator
    cfg.test_cfg = hook.loop_cfg(osp.abspath(cfg.work_dir), getattr(cfg, 'filename', None))
    cfg.test_dataloader = loader
    cfg.test_evaluator = hook.metric_cfg(cfg.test_cfg['out_dir'])
    cfg.load_from = checkpoint
    cfg.resume = False
    runner = build_runner(cfg)
    # mmengine loads with strict=False: refuse a checkpoint of another architecture
    check_checkpoint_file(runner.model, checkpoint)
    runner.test()
    return hook.result(runner.test_loop)


def evaluate_seeds(cfg: Config, checkpoint: str, split: Optional[str] = None,
                   thresholds: Optional[Sequence[float]] = None) -> dict:
    """Seed mIoU sweep and classification mAP of a split (``Runner.test`` with these metrics).

    Args:
        cfg (Config): The experiment config.
        checkpoint (str): Model checkpoint.
        split (str, optional): See :func:`split_dataloader`. Default: None.
        thresholds (Sequence[float], optional): Background thresholds of :class:`SeedMetric`.
            Default: None (its default sweep).

    Returns:
        dict: ``seed/...`` and ``cls/...`` metrics.
    """
    cfg = copy.deepcopy(cfg)
    cfg.test_dataloader = split_dataloader(cfg, split)
    seed_metric = dict(type='SeedMetric')
    if thresholds is not None:
        seed_metric['thresholds'] = list(thresholds)
    cfg.test_evaluator = [seed_metric, dict(type='MultiLabelMAPMetric')]
    if not cfg.get('test_cfg'):
        cfg.test_cfg = dict(type='TestLoop')
    cfg.load_from = checkpoint
    cfg.resume = False
    runner = build_runner(cfg)
    check_checkpoint_file(runner.model, checkpoint)
    return runner.test()


def evaluate_pred_dir(cfg: Config, pred_dir: str, split: Optional[str] = None) -> dict:
    """Score the PNG masks of ``pred_dir`` against the GT masks of a split.

    Args:
        cfg (Config): The experiment config.
        pred_dir (str): Folder of ``{image basename}.png`` masks.
        split (str, optional): See :func:`split_dataloader`. Default: None.

    Returns:
        dict: See :func:`mmseg_mctformer.evaluation.evaluate_mask_dir`.
    """
    return evaluate_mask_dir(split_dataloader(cfg, split)['dataset'], pred_dir)


def visualize_maps(cfg: Config, checkpoint: str, out_dir: str, num: int = 8,
                   split: Optional[str] = None, max_maps: Optional[int] = None) -> list:
    """Draw the maps of the first ``num`` images of a split into ``out_dir`` (main process).

    Each ``{out_dir}/{image basename}.jpg`` is a strip drawn by
    :class:`mmseg_mctformer.visualization.LocalizationMapVisualizer`: image, seed overlay, GT
    overlay (when loaded), heatmap of each kept class.

    Args:
        cfg (Config): The experiment config.
        checkpoint (str): Model checkpoint.
        out_dir (str): Output folder.
        num (int): Number of images. Default: 8.
        split (str, optional): See :func:`split_dataloader`. Default: None.
        max_maps (int, optional): Most class maps per image. Default: None (all).

    Returns:
        list[str]: The written files.
    """
    if not is_main_process():
        return []
    device = 'cuda:0' if torch.cuda.is_available() else 'cpu'
    model = init_model(copy.deepcopy(cfg), checkpoint, device=device)
    check_checkpoint_file(model, checkpoint)
    loader = split_dataloader(cfg, split)
    dataset = build_full_dataset(loader['dataset'])
    classes = list(dataset.metainfo['classes'])
    vis = LocalizationMapVisualizer.get_instance(
        f'localization_maps_{id(model)}', classes=classes,
        palette=dataset_palette(dataset.metainfo, 'visualize_maps'))
    files = []
    indices = range(min(num, len(dataset)))
    for sample in predict_indices(model, loader, dataset, indices):
        img_path = sample.metainfo['img_path']
        out_file = osp.join(out_dir, osp.splitext(osp.basename(img_path))[0] + '.jpg')
        vis.add_maps(img_path, mmcv.imread(img_path, channel_order='rgb'), sample,
                     out_file=out_file, max_maps=max_maps)
        files.append(out_file)
    return files


def predict_indices(model, dataloader_cfg: dict, dataset, indices: Sequence[int]):
    """Yield the predictions (SegDataSample) of ``dataset[i]`` for ``i`` in ``indices``.

    The dataloader is built by :meth:`mmengine.runner.Runner.build_dataloader` from
    ``dataloader_cfg`` with its dataset replaced by ``dataset`` and its sampler by ``indices``.
    The model runs ``test_step`` in eval mode without gradients; its mode is restored afterwards.
    """
    loader_cfg = copy.copy(dict(dataloader_cfg))
    loader_cfg.update(dataset=dataset, sampler=list(indices))
    loader_cfg.pop('batch_sampler', None)
    if not loader_cfg.get('num_workers'):
        loader_cfg.pop('persistent_workers', None)
    loader = Runner.build_dataloader(loader_cfg)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            for data_batch in loader:
                yield from model.test_step(data_batch)
    finally:
        model.train(was_training)
