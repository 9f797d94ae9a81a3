"""Multi-label classification mAP of the image-level class scores."""
from collections import OrderedDict
from typing import Dict, Optional, Sequence

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmpretrain.evaluation.metrics import AveragePrecision
from mmseg.registry import METRICS


@METRICS.register_module()
class MultiLabelMAPMetric(BaseMetric):
    """Mean average precision of ``pred_class_scores`` against ``gt_class_labels``.

    Per class AP is mmpretrain's :meth:`AveragePrecision.calculate` (in %); the mean runs over the
    classes that have at least one positive image (a class never present has no defined AP and is
    reported as ``nan``). Reported keys (with the ``prefix``): ``mAP``, ``label_rate`` (the
    fraction of images holding a class, in %, averaged over the same classes: the mAP that random
    scores reach in expectation, read by :mod:`mmseg_mctformer.pipeline.stage1_guard`) and the
    non-scalar ``AP_per_class`` (``{class name: AP}``, foreground classes only).

    Args:
        collect_device (str): Device used to collect results across ranks, 'cpu' or 'gpu'.
            Default: 'cpu'.
        prefix (str, optional): Prefix of the metric names. Default: 'cls'.
    """
    default_prefix: Optional[str] = 'cls'

    def __init__(self, collect_device: str = 'cpu', prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Keep the (C,) scores and (C,) multi-hot labels of each sample.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts with ``pred_class_scores`` (C,)
                and ``gt_class_labels`` (C,).
        """
        for data_sample in data_samples:
            for key in ('pred_class_scores', 'gt_class_labels'):
                if key not in data_sample:
                    raise KeyError(f'MultiLabelMAPMetric: data sample '
                                   f'{data_sample.get("img_path")} has no {key!r}')
            scores = torch.as_tensor(data_sample['pred_class_scores']).detach().float().cpu()
            labels = torch.as_tensor(data_sample['gt_class_labels']).cpu()
            if scores.shape != labels.shape or scores.dim() != 1:
                raise ValueError('MultiLabelMAPMetric: pred_class_scores and gt_class_labels '
                                 'must both have shape (C,), got '
                                 f'{tuple(scores.shape)} and {tuple(labels.shape)}')
            self.results.append((scores.numpy(), labels.numpy().astype(np.int64)))

    def compute_metrics(self, results: list) -> Dict[str, object]:
        """Compute mAP from the accumulated scores.

        Args:
            results (list): Tuples ``(scores, labels)`` of (C,) arrays.

        Returns:
            dict: ``mAP`` and ``label_rate`` (float, %) and ``AP_per_class`` (dict).
        """
        scores = torch.from_numpy(np.stack([r[0] for r in results]))  # (N, C)
        labels = torch.from_numpy(np.stack([r[1] for r in results]))  # (N, C)
        ap = AveragePrecision.calculate(scores, labels, average=None).numpy().astype(np.float64)
        ap[(labels == 1).sum(0).numpy() == 0] = np.nan
        names = self._foreground_names(scores.shape[1])
        valid = ~np.isnan(ap)
        mean_ap = float(ap[valid].mean()) if valid.any() else float('nan')
        rate = labels.float().mean(0).numpy()
        label_rate = float(rate[valid].mean() * 100) if valid.any() else float('nan')
        print_log(f'classification mAP {mean_ap:.2f} over {int(valid.sum())} classes with '
                  'positives', MMLogger.get_current_instance())
        return OrderedDict(
            mAP=round(mean_ap, 2),
            label_rate=round(label_rate, 2),
            AP_per_class={n: round(float(v), 2) for n, v in zip(names, ap)},
        )

    def _foreground_names(self, num_classes: int):
        classes = list((self.dataset_meta or {}).get('classes', []))
        if len(classes) == num_classes + 1:
            return classes[1:]
        if len(classes) == num_classes:
            return classes
        return [str(i) for i in range(num_classes)]
