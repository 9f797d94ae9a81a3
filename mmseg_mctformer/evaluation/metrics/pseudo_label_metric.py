"""Writing of seed masks (pseudo labels) as palette PNGs, in MMSeg's ``format_only`` pattern.

MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation
(https://arxiv.org/abs/2308.03005), Sec. 3: the seeds of the training images become the labels of
a fully supervised segmentation network.

:class:`PseudoLabelMetric` is to the seeds what ``IoUMetric(format_only=True, output_dir=...)`` is
to MMSeg's predictions: ``Runner.test()`` (or any ``TestLoop``) runs the model over a split, with
the runner's own dataloader and sampler (hence rank sharding), and the metric writes one PNG per
prediction. The folder (record, resume, PNG and ``.npz`` files) is a
:class:`~mmseg_mctformer.utils.label_dir.LabelDir`.
"""
from typing import Optional, Sequence

import numpy as np
import torch
from mmcv import imread
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from mmseg.registry import METRICS

from ...models.utils.crf import CRF_MISSING_MSG, crf_available, crf_seed_labels
from ...models.utils.seed import kept_class_mask, seed_labels
from ...utils.label_dir import LabelDir, dataset_palette


@METRICS.register_module()
class PseudoLabelMetric(BaseMetric):
    """Write each prediction's seed as a palette PNG (format-only, no score).

    Used as the evaluator of ``Runner.test()`` (``tools/make_pseudo_labels.py``,
    :class:`PseudoLabelHook`), as ``IoUMetric(format_only=True, output_dir=...)`` is for MMSeg's
    predictions. For every data sample it writes ``{output_dir}/{image basename}.png``: an
    indexed PNG with the dataset palette, 0 = background, c + 1 = foreground class c
    (``docs/conventions.md``), computed by :func:`~mmseg_mctformer.models.utils.seed_labels` from
    the maps (``seg_logits[1:]``), the sample's ``kept_classes`` and its ``bg_threshold`` (the
    model's ``test_cfg.bg_threshold``, the one home of the threshold).

    - Every file is written atomically (:meth:`LabelDir.save`, :meth:`LabelDir.save_maps`); a
      failed write (``ENOSPC``...) leaves no file and raises an ``OSError`` naming it.
    - Which images to label is the test loop's business:
      :class:`~mmseg_mctformer.engine.runner.PseudoLabelLoop` runs over the ones still missing,
      sharded over the ranks.

    Args:
        output_dir (str): Output folder.
        save_logits (bool): Also save ``{basename}.npz`` with the maps of the kept classes
            (``classes`` (K,) int64 foreground indices, ``maps`` (K, H, W) float16).
            Default: False.
        crf (dict, optional): Dense-CRF post-processing: ``dict()`` for the defaults of
            :data:`~mmseg_mctformer.models.utils.crf.DEFAULT_CRF_CFG`, or overrides. Needs
            ``pydensecrf`` (``pip install pydensecrf2``); skipped with a warning when absent.
            Default: None (no CRF).
        collect_device (str): Device to collect the (tiny) results on. Default: 'cpu'.
        prefix (str, optional): Prefix of the metric names. Default: 'pseudo_label'.

    Returns (``evaluate``): ``{prefix}/written``, the number of masks written by all ranks
    (a rank's padding duplicates included, if its sampler pads).
    """
    default_prefix: Optional[str] = 'pseudo_label'

    def __init__(self,
                 output_dir: str,
                 save_logits: bool = False,
                 crf: Optional[dict] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not output_dir:
            raise ValueError(f'PseudoLabelMetric: output_dir must be a folder, got {output_dir!r}')
        if 'bg_threshold' in kwargs:
            raise TypeError('PseudoLabelMetric: bg_threshold is not an argument; the masks use '
                            "the threshold of each prediction, the model's "
                            f"test_cfg.bg_threshold: set it there (got {kwargs['bg_threshold']})")
        self.output_dir = output_dir
        self.save_logits = save_logits
        self.crf = crf
        self.crf_on = crf is not None and crf_available()
        if crf is not None and not self.crf_on:
            print_log(f'PseudoLabelMetric: {CRF_MISSING_MSG}', logger='current', level=30)

    def _palette(self) -> list:
        return dataset_palette(self.dataset_meta, 'PseudoLabelMetric')

    def seed(self, data_sample: dict) -> np.ndarray:
        """The (H, W) uint8 seed of one prediction (dict of ``MCTformer.predict``)."""
        img_path = data_sample.get('img_path', '?')
        if 'seg_logits' not in data_sample:
            raise KeyError(f'PseudoLabelMetric: the prediction of {img_path} has no seg_logits')
        maps = data_sample['seg_logits']['data'][1:].float().cpu()
        if 'bg_threshold' not in data_sample:
            raise KeyError(f'PseudoLabelMetric: the prediction of {img_path} has no '
                           "bg_threshold (the model's test_cfg.bg_threshold)")
        thr = float(data_sample['bg_threshold'])
        if not 0 <= thr <= 1:
            raise ValueError(f'PseudoLabelMetric: the prediction of {img_path} has '
                             f'bg_threshold {thr}, which must lie in [0, 1] (the maps are '
                             'normalised to [0, 1])')
        kept = kept_class_mask(data_sample.get('kept_classes'), maps.shape[0]).cpu()
        if self.crf_on:
            rgb = imread(img_path, channel_order='rgb')
            return crf_seed_labels(rgb, maps.numpy(), thr, self.crf, kept.numpy())
        return seed_labels(maps, thr, kept).numpy().astype(np.uint8)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Write the PNG (and ``.npz``) of each prediction.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): Predictions with ``img_path``, ``ori_shape``,
                ``seg_logits``, ``kept_classes`` and ``bg_threshold``.
        """
        palette = self._palette()
        folder = LabelDir.of('pseudo_label', self.output_dir)
        for data_sample in data_samples:
            img_path = data_sample.get('img_path')
            if img_path is None:
                raise KeyError('PseudoLabelMetric: a prediction has no "img_path" in its '
                               'metainfo; the PNG is named after it')
            label = self.seed(data_sample)
            ori_shape = data_sample.get('ori_shape')
            if ori_shape is not None and tuple(label.shape) != tuple(ori_shape[:2]):
                raise ValueError(f'PseudoLabelMetric: the mask of {img_path} has shape '
                                 f'{label.shape}, expected the original image shape '
                                 f'{tuple(ori_shape[:2])}')
            if self.save_logits:
                maps = data_sample['seg_logits']['data'][1:].float().cpu()
                kept = kept_class_mask(data_sample.get('kept_classes'), maps.shape[0]).cpu()
                classes = torch.nonzero(kept).flatten().numpy().astype(np.int64)
                folder.save_maps(img_path, classes, maps[classes].numpy())
            folder.save(img_path, label, palette)
            self.results.append(1)

    def compute_metrics(self, results: list) -> dict:
        """The number of masks written (``written``)."""
        return dict(written=len(results))
