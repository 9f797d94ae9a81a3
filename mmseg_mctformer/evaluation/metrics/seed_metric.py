"""Seed quality of localisation maps under a sweep of background thresholds.

MCTformer+: Multi-Class Token Transformer for Weakly Supervised Semantic Segmentation
(https://arxiv.org/abs/2308.03005). The seed of an image is the argmax over
``[background threshold, class maps]``; the threshold is a free constant that the authors sweep on
the train set and report at its best value, together with the false-positive / false-negative
rates of their Fig. 9.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from prettytable import PrettyTable

from ...models.utils.seed import seed_labels

#: Default bound on T' * H * W, the labels of one chunk of the threshold sweep (int64: 128 MiB).
DEFAULT_MAX_ELEMENTS = 2**24
#: Default sweep: 0.00, 0.05, ..., 0.95.
DEFAULT_THRESHOLDS = tuple(round(0.05 * i, 2) for i in range(20))
#: The sweep of the authors' evaluation script (``evaluation.py --curve``): 0.00, 0.01, ..., 0.59.
AUTHORS_THRESHOLDS = tuple(i / 100.0 for i in range(60))
THRESHOLD_PRESETS = dict(default=DEFAULT_THRESHOLDS, authors=AUTHORS_THRESHOLDS)


def stacked_intersect_and_union(pred_labels: torch.Tensor, label: torch.Tensor,
                                num_classes: int, ignore_index: int = 255):
    """Intersection / union / prediction / label areas for T predictions of one image.

    The T predictions are shifted into disjoint label ranges (``pred + t * num_classes``) so that a
    single call of :meth:`mmseg.evaluation.IoUMetric.intersect_and_union` counts all of them.

    Args:
        pred_labels (torch.Tensor): Predictions of shape (T, H, W).
        label (torch.Tensor): Ground truth of shape (H, W).
        num_classes (int): K, the number of classes including background.
        ignore_index (int): Label value that is not evaluated. Default: 255.

    Returns:
        tuple[torch.Tensor]: ``area_intersect, area_union, area_pred_label, area_label``, each of
        shape (T, K).
    """
    if pred_labels.shape[1:] != label.shape:
        raise ValueError(f'prediction size {tuple(pred_labels.shape[1:])} does not match the '
                         f'ground-truth size {tuple(label.shape)}')
    num_thr = pred_labels.shape[0]
    valid = label != ignore_index
    label = label[valid].long()  # (P,)
    pred = pred_labels[:, valid].long()  # (T, P)
    if label.numel() and int(label.max()) >= num_classes:
        raise ValueError(f'ground-truth label {int(label.max())} is outside 0..{num_classes - 1} '
                         f'(and is not ignore_index={ignore_index})')
    offset = torch.arange(num_thr, device=pred.device).view(-1, 1) * num_classes
    areas = IoUMetric.intersect_and_union((pred + offset).flatten(),
                                          (label.unsqueeze(0) + offset).flatten(),
                                          num_thr * num_classes, -1)
    return tuple(a.view(num_thr, num_classes) for a in areas)


@METRICS.register_module()
class SeedMetric(BaseMetric):
    """mIoU of seed masks over a sweep of background thresholds.

    For every threshold ``t`` the seed is ``argmax([t, maps_1..C])`` of the ``seg_logits`` each
    data sample carries (channel 0 replaced by ``t``), scored against ``gt_sem_seg``. Only the
    per-threshold class areas are kept (T x K numbers per image), so the metric runs in
    distributed evaluation without holding maps in memory.

    Reported (keys get the ``prefix``): ``mIoU`` and ``aAcc`` at the best threshold (in %),
    ``best_threshold``, ``FP`` and ``FN`` at the best threshold (in %; per class
    ``FP_c = (P_c - TP_c) / U_c`` and ``FN_c = (T_c - TP_c) / U_c`` with ``U = T + P - TP``,
    averaged over the classes that occur, background included, as the MCTformer evaluation
    script does), ``precision`` and ``recall`` at the best threshold (in %; per class
    ``TP_c / P_c`` and ``TP_c / T_c``, averaged over the classes predicted, resp. present), and
    the non-scalar entries ``mIoU_per_threshold`` (``{'0.35': mIoU}``), ``IoU_per_class``,
    ``precision_per_class`` and ``recall_per_class`` at the best threshold (``{class name: %}``).
    All are also logged as tables.
    Classes absent from both predictions and labels are left out of the means (``nan``), as in
    :class:`mmseg.evaluation.IoUMetric`. The authors' evaluation script instead counts such a class
    as IoU 0 and averages over all K classes; that convention is reported too, swept on its own:
    ``mIoU_absent_as_0`` (its best over the thresholds), ``best_threshold_absent_as_0``, and
    ``absent_classes`` (names of the classes with an empty union at the best threshold). On an image
    set where every class occurs the two conventions agree.

    The authors' ``evaluation.py --curve`` does not take the best of its sweep: it walks the
    thresholds upwards and stops at the first that does not improve the mIoU (absent classes as
    0), reporting the last improvement. That number is reported beside the global best:
    ``mIoU_first_peak`` and ``threshold_first_peak`` (:func:`first_peak`); it is the number to
    compare with their papers' seed mIoU, ``mIoU_absent_as_0`` the best the sweep holds.

    Memory is bounded: the sweep of an image runs over chunks of thresholds whose seed masks hold
    at most ``max_elements`` labels (one threshold at a time for images beyond ``max_elements``
    pixels), so a large image needs a few copies of one (H, W) mask instead of T of them; the
    areas are the same. An error while scoring an image names its file.

    Args:
        thresholds (Sequence[float] | str): Background thresholds to sweep, or a preset:
            ``'default'`` (0.00, 0.05, ..., 0.95) or ``'authors'`` (0.00, 0.01, ..., 0.59, the
            authors' ``evaluation.py --curve``). Default: ``(0.0, 0.05, ..., 0.95)``.
        ignore_index (int): Label value that is not evaluated. Default: 255.
        collect_device (str): Device used to collect results across ranks, 'cpu' or 'gpu'.
            Default: 'cpu'.
        prefix (str, optional): Prefix of the metric names. Default: 'seed'.
        max_elements (int): Most labels (thresholds x pixels) of one chunk of the sweep.
            Default: ``2 ** 24`` (:data:`DEFAULT_MAX_ELEMENTS`).
    """
    default_prefix: Optional[str] = 'seed'

    def __init__(self,
                 thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 max_elements: int = DEFAULT_MAX_ELEMENTS,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if int(max_elements) < 1:
            raise ValueError(f'SeedMetric: max_elements must be >= 1, got {max_elements}')
        self.max_elements = int(max_elements)
        if isinstance(thresholds, str):
            if thresholds not in THRESHOLD_PRESETS:
                raise ValueError(f'SeedMetric: unknown thresholds preset {thresholds!r}, expected '
                                 f'one of {sorted(THRESHOLD_PRESETS)} or a list of floats')
            thresholds = THRESHOLD_PRESETS[thresholds]
        if isinstance(thresholds, (int, float)):
            thresholds = [thresholds]
        thresholds = [float(t) for t in thresholds]
        if not thresholds:
            raise ValueError('SeedMetric: `thresholds` must hold at least one value, got []')
        if sorted(set(thresholds)) != thresholds:
            raise ValueError('SeedMetric: `thresholds` must be strictly increasing, got '
                             f'{thresholds}')
        self.thresholds = thresholds
        self.ignore_index = ignore_index

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate the (T, K) class areas of each sample.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts, each with ``seg_logits`` (data
                (C + 1, H, W), channel 0 unused), ``gt_sem_seg`` (data (1, H, W)) and, from
                ``MCTformer.predict``, ``kept_classes`` (C,) (all classes when absent).
        """
        num_classes = len(self.dataset_meta['classes'])
        for data_sample in data_samples:
            for key in ('seg_logits', 'gt_sem_seg'):
                if key not in data_sample:
                    raise KeyError(f'SeedMetric: data sample {data_sample.get("img_path")} has no '
                                   f'{key!r}; it needs both seg_logits and gt_sem_seg')
            logits = data_sample['seg_logits']['data']
            if logits.shape[0] != num_classes:
                raise ValueError(f'SeedMetric: seg_logits has {logits.shape[0]} channels, '
                                 f'expected {num_classes} (len(dataset_meta["classes"]), '
                                 'background included)')
            label = data_sample['gt_sem_seg']['data'].squeeze(0).to(logits.device)
            try:
                areas = self.sweep_areas(logits, label, data_sample.get('kept_classes'))
            except (RuntimeError, ValueError, MemoryError) as err:  # OOM, sizes: name the image
                raise type(err)(f'SeedMetric: {data_sample.get("img_path")} (maps '
                                f'{tuple(logits.shape)}, {len(self.thresholds)} thresholds): '
                                f'{err}') from err
            self.results.append(areas)

    def sweep_areas(self, logits: torch.Tensor, label: torch.Tensor,
                    kept_classes: Optional[torch.Tensor] = None) -> tuple:
        """The (T, K) int64 class areas of one image over the sweep, in chunks of thresholds
        whose (T', H, W) seed masks hold at most ``max_elements`` labels.

        Args:
            logits (torch.Tensor): ``seg_logits`` (C + 1, H, W), channel 0 unused.
            label (torch.Tensor): GT (H, W).
            kept_classes (torch.Tensor, optional): See :func:`seed_labels`.

        Returns:
            tuple[np.ndarray]: ``intersect, union, pred, label`` areas, each (T, K).
        """
        num_classes = logits.shape[0]
        step = max(1, self.max_elements // max(1, label.numel()))
        chunks = []
        for start in range(0, len(self.thresholds), step):
            preds = seed_labels(logits[1:], self.thresholds[start:start + step], kept_classes)
            chunks.append(stacked_intersect_and_union(preds, label, num_classes,
                                                      self.ignore_index))
            del preds
        return tuple(torch.cat(parts).numpy().astype(np.int64) for parts in zip(*chunks))

    def compute_metrics(self, results: list) -> Dict[str, object]:
        """Compute the sweep from the accumulated areas.

        Args:
            results (list): Tuples ``(intersect, union, pred, label)`` of (T, K) arrays.

        Returns:
            dict: The metrics described in the class docstring.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        totals = [torch.from_numpy(np.sum(np.stack(r), axis=0).astype(np.float64))
                  for r in zip(*results)]
        per_thr = [
            IoUMetric.total_area_to_metrics(*(t[i] for t in totals), metrics=['mIoU'])
            for i in range(len(self.thresholds))
        ]
        mious = np.array([_nanmean(m['IoU']) for m in per_thr])
        best = int(np.nanargmax(mious)) if not np.all(np.isnan(mious)) else 0
        # the authors' convention: a class with an empty union has IoU 0, mean over all K
        mious_zero = np.array([float(np.mean(np.nan_to_num(np.asarray(m['IoU'], np.float64),
                                                           nan=0.0))) for m in per_thr])
        best_zero = int(np.argmax(mious_zero))
        peak = first_peak(mious_zero)
        absent = [name for name, union in zip(self.dataset_meta['classes'], totals[1][best])
                  if float(union) == 0]
        if absent:
            print_log(f'SeedMetric: classes absent from the predictions and the labels: {absent}; '
                      f'mIoU {_pct(mious[best])} leaves them out, {_pct(mious_zero[best_zero])} '
                      f'counts them as 0 (authors\' evaluation script)', logger)

        thr_table = PrettyTable()
        thr_table.add_column('threshold', [f'{t:.2f}' for t in self.thresholds])
        thr_table.add_column('mIoU', [round(float(m) * 100, 2) for m in mious])
        print_log('seed mIoU per background threshold:\n' + thr_table.get_string(), logger)
        print_log(f'SeedMetric: best over the sweep (absent classes as 0) '
                  f'{_pct(mious_zero[best_zero])} at {self.thresholds[best_zero]:.2f}; the '
                  f"authors' stopping rule (first threshold that does not improve) "
                  f'{_pct(mious_zero[peak])} at {self.thresholds[peak]:.2f}', logger)
        summary = summarize_areas(*(t[best] for t in totals), self.dataset_meta['classes'],
                                  title=f'seed results at threshold {self.thresholds[best]:.2f}')
        return OrderedDict(
            mIoU=summary['mIoU'],
            best_threshold=float(self.thresholds[best]),
            aAcc=summary['aAcc'],
            FP=summary['FP'],
            FN=summary['FN'],
            precision=summary['precision'],
            recall=summary['recall'],
            mIoU_absent_as_0=_pct(mious_zero[best_zero]),
            best_threshold_absent_as_0=float(self.thresholds[best_zero]),
            mIoU_first_peak=_pct(mious_zero[peak]),
            threshold_first_peak=float(self.thresholds[peak]),
            absent_classes=absent,
            mIoU_per_threshold={f'{t:.2f}': _pct(m) for t, m in zip(self.thresholds, mious)},
            IoU_per_class=summary['IoU_per_class'],
            precision_per_class=summary['precision_per_class'],
            recall_per_class=summary['recall_per_class'],
        )


def first_peak(values: Sequence[float]) -> int:
    """Index where the authors' threshold sweep (``evaluation.py --curve``) stops.

    Their loop keeps the best value so far, starting from 0, and breaks at the first value that
    does not exceed it; the result is the last improvement (index 0 when the first value is not
    above 0).

    Args:
        values (Sequence[float]): mIoU per threshold, thresholds increasing.

    Returns:
        int: Index of the reported threshold.
    """
    best, index = 0.0, 0
    for i, value in enumerate(values):
        if value > best:
            best, index = value, i
        else:
            break
    return index


def summarize_areas(area_intersect: torch.Tensor, area_union: torch.Tensor,
                    area_pred_label: torch.Tensor, area_label: torch.Tensor,
                    class_names: Sequence[str], title: str = 'per class results') -> dict:
    """mIoU, aAcc, false-positive / false-negative rates, precision and recall of class areas.

    Per class c, with ``U_c = T_c + P_c - TP_c``: ``FP_c = (P_c - TP_c) / U_c`` and
    ``FN_c = (T_c - TP_c) / U_c`` (MCTformer's evaluation script, Fig. 9 of the paper),
    ``precision_c = TP_c / P_c`` and ``recall_c = TP_c / T_c``. Means run over the classes where
    the denominator is > 0; the per-class table (IoU, FP, FN, precision, recall) is logged.

    Args:
        area_intersect (torch.Tensor): TP areas, shape (K,).
        area_union (torch.Tensor): Union areas, shape (K,).
        area_pred_label (torch.Tensor): Predicted areas P, shape (K,).
        area_label (torch.Tensor): Ground-truth areas T, shape (K,).
        class_names (Sequence[str]): K class names, background first.
        title (str): Heading of the logged table. Default: 'per class results'.

    Returns:
        dict: ``mIoU``, ``aAcc``, ``FP``, ``FN``, ``precision``, ``recall`` (float, %) and
        ``IoU_per_class``, ``precision_per_class``, ``recall_per_class`` (dict, %).
    """
    metrics = IoUMetric.total_area_to_metrics(area_intersect, area_union, area_pred_label,
                                              area_label, metrics=['mIoU'])
    intersect, union, pred_area, label_area = (
        torch.as_tensor(a).double().numpy()
        for a in (area_intersect, area_union, area_pred_label, area_label))
    with np.errstate(divide='ignore', invalid='ignore'):
        fp = (pred_area - intersect) / union
        fn = (label_area - intersect) / union
        precision = intersect / pred_area
        recall = intersect / label_area
    iou = metrics['IoU']
    table = PrettyTable()
    table.add_column('Class', list(class_names))
    table.add_column('IoU', np.round(iou * 100, 2).tolist())
    table.add_column('FP', np.round(fp * 100, 2).tolist())
    table.add_column('FN', np.round(fn * 100, 2).tolist())
    table.add_column('Precision', np.round(precision * 100, 2).tolist())
    table.add_column('Recall', np.round(recall * 100, 2).tolist())
    print_log(f'{title}:\n' + table.get_string(), MMLogger.get_current_instance())
    return dict(
        mIoU=_pct(_nanmean(iou)),
        aAcc=_pct(metrics['aAcc']),
        FP=_pct(_nanmean(fp)),
        FN=_pct(_nanmean(fn)),
        precision=_pct(_nanmean(precision)),
        recall=_pct(_nanmean(recall)),
        IoU_per_class={name: _pct(v) for name, v in zip(class_names, iou)},
        precision_per_class={name: _pct(v) for name, v in zip(class_names, precision)},
        recall_per_class={name: _pct(v) for name, v in zip(class_names, recall)},
    )


def _nanmean(values) -> float:
    values = np.asarray(values, dtype=np.float64)
    if np.all(np.isnan(values)):
        return float('nan')
    return float(np.nanmean(values))


def _pct(value) -> float:
    return round(float(value) * 100, 2)
