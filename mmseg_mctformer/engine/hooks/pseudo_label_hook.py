"""Write the seed masks of a whole split as palette PNGs (the pseudo labels of the next stage).

MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation
(https://arxiv.org/abs/2308.03005), Sec. 3: the seeds of the training images become the labels of
a fully supervised segmentation network.
"""
import copy
import os
import os.path as osp
from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.dist import barrier, get_dist_info
from mmengine.hooks import Hook
from mmengine.logging import print_log
from mmengine.model import is_model_wrapper
from mmengine.runner import Runner
from mmengine.utils import ProgressBar, mkdir_or_exist
from mmseg.registry import DATASETS, HOOKS
from PIL import Image

from ...evaluation.metrics.seed_metric import threshold_seg_logits
from ...utils.io import atomic_output
from ..crf import CRF_MISSING_MSG, crf_available, crf_seed_labels

#: Suffix of the temporary files of :func:`mmseg_mctformer.utils.io.atomic_output`.
TMP_SUFFIX = '.tmp'


def default_palette(num_classes: int) -> List[List[int]]:
    """The PASCAL VOC colour map (bit-interleaved label colours) for ``num_classes`` labels."""
    palette = []
    for label in range(num_classes):
        r = g = b = 0
        cid = label
        for shift in range(7, -1, -1):
            r |= ((cid >> 0) & 1) << shift
            g |= ((cid >> 1) & 1) << shift
            b |= ((cid >> 2) & 1) << shift
            cid >>= 3
        palette.append([r, g, b])
    return palette


def save_label_png(path: str, label: np.ndarray, palette: Sequence[Sequence[int]]) -> None:
    """Save a label mask as an indexed (palette) PNG, atomically.

    Args:
        path (str): Destination ``.png`` file.
        label (np.ndarray): Labels of shape (H, W), values 0..255.
        palette (Sequence[Sequence[int]]): RGB colour of each label value (at most 256).
    """
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f'save_label_png({path}): label must have shape (H, W), got {label.shape}')
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError(f'save_label_png({path}): label values must lie in 0..255, got '
                         f'{label.min()}..{label.max()}')
    image = Image.fromarray(label.astype(np.uint8))  # 'L', becomes 'P' with the palette
    flat = [int(v) for color in list(palette)[:256] for v in color]
    image.putpalette(flat + [0] * (768 - len(flat)))
    with atomic_output(path, suffix='.png') as tmp:
        image.save(tmp, format='PNG')


def is_valid_label_png(path: str, size: Tuple[int, int]) -> bool:
    """Whether ``path`` is a complete, readable PNG of ``size`` = (width, height)."""
    if not osp.isfile(path):
        return False
    try:
        with Image.open(path) as im:
            if im.format != 'PNG' or im.size != tuple(size):
                return False
            im.load()
    except Exception:
        return False
    return True


def image_size(img_path: str) -> Tuple[int, int]:
    """(width, height) of an image, read from its header."""
    with Image.open(img_path) as im:
        return im.size


def predict_indices(model, dataloader_cfg: dict, dataset, indices: Sequence[int]):
    """Yield the predictions (SegDataSample) of ``dataset[i]`` for ``i`` in ``indices``.

    The dataloader is built by :meth:`mmengine.runner.Runner.build_dataloader` from
    ``dataloader_cfg`` with its dataset replaced by ``dataset`` and its sampler by ``indices``
    (in that order, without padding). The model runs ``test_step`` in eval mode without gradients;
    its training mode is restored afterwards.

    Args:
        model (nn.Module): The (possibly wrapped) model.
        dataloader_cfg (dict): Dataloader config (``batch_size``, ``num_workers``, ...).
        dataset (Dataset): The dataset to read.
        indices (Sequence[int]): Dataset indices to predict.
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


@HOOKS.register_module()
class PseudoLabelHook(Hook):
    """Generate seed masks (pseudo labels) of a split with the current model.

    :meth:`generate` runs ``model.test_step`` over the split and writes each image's
    ``pred_sem_seg`` as ``{out_dir}/{image basename}.png``: an indexed PNG with the dataset
    palette, 0 = background, c + 1 = foreground class c (``docs/conventions.md``). With
    ``bg_threshold`` set, the mask is recomputed from ``seg_logits`` with that background score.

    Properties of the output:

    - each file is written atomically (:func:`mmseg_mctformer.utils.io.atomic_output`: temporary
      file of the same folder, then ``os.replace``), so an interrupted run never leaves a partial
      PNG; stale temporary files of a killed run are removed at the start;
    - a rerun skips images whose PNG exists, decodes and has the image's size (and the ``.npz``
      when ``save_logits``), and regenerates the others;
    - in distributed runs rank ``r`` of ``w`` labels the images ``i`` with ``i % w == r`` (no
      padding duplicates), then all ranks meet at a barrier.

    Args:
        dataloader (dict): Dataloader config of the split to label, like a test dataloader
            (``dataset``, ``batch_size``, ``num_workers``, ...; the ``sampler`` is replaced). Its
            dataset must give image labels (``gt_class_labels``) and ``img_path``.
        out_dir (str, optional): Output folder; ``{work_dir}`` is replaced by the runner's work
            dir. Default: ``None``, which means ``{work_dir}/pseudo_labels``.
        bg_threshold (float, optional): Background score used to recompute the masks from
            ``seg_logits``. Default: ``None``, which keeps the model's ``pred_sem_seg`` (made with
            its ``test_cfg.bg_threshold``).
        after_train (bool): Whether to generate when training ends. Default: True.
        save_logits (bool): Also save ``{basename}.npz`` with the maps of the kept classes
            (``classes`` (K,) int64 foreground indices, ``maps`` (K, H, W) float16). Default: False.
        crf (dict, optional): Dense-CRF post-processing: ``dict()`` for the defaults of
            :data:`mmseg_mctformer.engine.crf.DEFAULT_CRF_CFG`, or overrides of them. Needs
            ``pydensecrf`` (``pip install pydensecrf2``); skipped with a warning when absent.
            Default: ``None`` (no CRF).
    """
    priority = 'LOW'

    def __init__(self,
                 dataloader: dict,
                 out_dir: Optional[str] = None,
                 bg_threshold: Optional[float] = None,
                 after_train: bool = True,
                 save_logits: bool = False,
                 crf: Optional[dict] = None) -> None:
        if not isinstance(dataloader, dict) or 'dataset' not in dataloader:
            raise TypeError('PseudoLabelHook: `dataloader` must be a dataloader config dict with '
                            f'a "dataset" key, got {type(dataloader).__name__}: {dataloader!r}')
        if bg_threshold is not None and not 0 <= float(bg_threshold) <= 1:
            raise ValueError('PseudoLabelHook: `bg_threshold` must lie in [0, 1] (the maps are '
                             f'normalised to [0, 1]), got {bg_threshold}')
        self.dataloader_cfg = dataloader
        self.out_dir = out_dir
        self.bg_threshold = None if bg_threshold is None else float(bg_threshold)
        self.run_after_train = after_train
        self.save_logits = save_logits
        self.crf = crf

    def after_train(self, runner) -> None:
        """Generate the pseudo labels once training has finished (if ``after_train``)."""
        if self.run_after_train:
            self.generate(runner)

    # ------------------------------------------------------------------ helpers
    def resolve_out_dir(self, runner) -> str:
        """The output folder for ``runner``."""
        work_dir = getattr(runner, 'work_dir', '.')
        if self.out_dir is None:
            return osp.join(work_dir, 'pseudo_labels')
        return self.out_dir.replace('{work_dir}', str(work_dir))

    def build_dataset(self):
        """Build (and fully initialise) the dataset of ``dataloader``."""
        dataset = self.dataloader_cfg['dataset']
        if isinstance(dataset, dict):
            dataset = DATASETS.build(copy.deepcopy(dataset))
        if hasattr(dataset, 'full_init'):
            dataset.full_init()
        return dataset

    def _is_done(self, out_dir: str, img_path: str) -> bool:
        name = osp.splitext(osp.basename(img_path))[0]
        if not is_valid_label_png(osp.join(out_dir, name + '.png'), image_size(img_path)):
            return False
        if self.save_logits:
            try:
                with np.load(osp.join(out_dir, name + '.npz')) as f:
                    f['maps'], f['classes']
            except Exception:
                return False
        return True

    @staticmethod
    def _remove_stale_tmp(out_dir: str) -> int:
        removed = 0
        for name in os.listdir(out_dir):
            if name.startswith('.') and name.endswith(TMP_SUFFIX):
                os.remove(osp.join(out_dir, name))
                removed += 1
        return removed

    def _labels(self, sample, img_path: str, crf_on: bool) -> np.ndarray:
        if self.bg_threshold is None and not crf_on:
            return sample.pred_sem_seg.data[0].cpu().numpy()
        if 'seg_logits' not in sample:
            raise KeyError(f'PseudoLabelHook: the prediction of {img_path} has no seg_logits, '
                           'needed with bg_threshold / crf')
        logits = sample.seg_logits.data.float().cpu()
        if self.bg_threshold is not None:
            thr = self.bg_threshold
        else:
            thr = float(logits[0].flatten()[0]) if logits[0].numel() else 0.0
        if crf_on:
            from mmcv import imread
            rgb = imread(img_path, channel_order='rgb')
            return crf_seed_labels(rgb, logits[1:].numpy(), thr, self.crf)
        return threshold_seg_logits(logits, [thr])[0].numpy()

    def _write(self, sample, out_dir: str, palette, crf_on: bool) -> None:
        img_path = sample.metainfo.get('img_path')
        if img_path is None:
            raise KeyError('PseudoLabelHook: a prediction has no "img_path" in its metainfo; '
                           'the PNG is named after it')
        label = self._labels(sample, img_path, crf_on)
        ori_shape = sample.metainfo.get('ori_shape')
        if ori_shape is not None and tuple(label.shape) != tuple(ori_shape[:2]):
            raise ValueError(f'PseudoLabelHook: the mask of {img_path} has shape {label.shape}, '
                             f'expected the original image shape {tuple(ori_shape[:2])}')
        name = osp.splitext(osp.basename(img_path))[0]
        if self.save_logits:
            maps = sample.seg_logits.data[1:].float().cpu().numpy()
            classes = np.array([c for c in range(maps.shape[0]) if maps[c].max() > 0],
                               dtype=np.int64)
            with atomic_output(osp.join(out_dir, name + '.npz')) as tmp, open(tmp, 'wb') as f:
                np.savez_compressed(f, classes=classes, maps=maps[classes].astype(np.float16))
        save_label_png(osp.join(out_dir, name + '.png'), label, palette)

    # ------------------------------------------------------------------ main
    def generate(self, runner) -> dict:
        """Label this rank's share of the split with ``runner.model``.

        Args:
            runner (Runner): Provides ``model`` (its ``test_step`` returns SegDataSamples with
                ``pred_sem_seg`` / ``seg_logits``) and ``work_dir``.

        Returns:
            dict: ``out_dir``, and for this rank ``written`` and ``skipped`` image counts.
        """
        rank, world_size = get_dist_info()
        out_dir = self.resolve_out_dir(runner)
        mkdir_or_exist(out_dir)
        if rank == 0:
            removed = self._remove_stale_tmp(out_dir)
            if removed:
                print_log(f'PseudoLabelHook: removed {removed} stale temporary files in {out_dir}',
                          logger='current')
        barrier()

        dataset = self.build_dataset()
        num_classes = len(dataset.metainfo['classes'])
        palette = dataset.metainfo.get('palette') or default_palette(num_classes)
        crf_on = self.crf is not None and crf_available()
        if self.crf is not None and not crf_on:
            print_log(f'PseudoLabelHook: {CRF_MISSING_MSG}', logger='current', level=30)

        shard = range(rank, len(dataset), world_size)
        todo = [i for i in shard
                if not self._is_done(out_dir, dataset.get_data_info(i)['img_path'])]
        skipped = len(shard) - len(todo)
        thr = self._model_threshold(runner) if self.bg_threshold is None else self.bg_threshold
        print_log(f'PseudoLabelHook: rank {rank}/{world_size} labels {len(todo)} images into '
                  f'{out_dir} ({skipped} already done; bg_threshold={thr})', logger='current')
        if todo:
            self._run(runner, dataset, todo, out_dir, palette, crf_on, rank)
        barrier()
        return dict(out_dir=out_dir, written=len(todo), skipped=skipped)

    def _run(self, runner, dataset, todo, out_dir, palette, crf_on, rank) -> None:
        progress = ProgressBar(len(todo)) if rank == 0 else None
        try:
            for sample in predict_indices(runner.model, self.dataloader_cfg, dataset, todo):
                self._write(sample, out_dir, palette, crf_on)
                if progress is not None:
                    progress.update()
        finally:
            if progress is not None:
                progress.file.write('\n')

    @staticmethod
    def _model_threshold(runner):
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        test_cfg = getattr(model, 'test_cfg', None) or {}
        return test_cfg.get('bg_threshold', 'model default') if hasattr(test_cfg, 'get') else None
