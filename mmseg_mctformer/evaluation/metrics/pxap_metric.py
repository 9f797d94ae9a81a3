"""Pixel-level localisation metrics of the WSOL protocol: PxAP and pIoU.

"Evaluating Weakly Supervised Object Localization Methods Right" (Choe et al., CVPR 2020,
https://arxiv.org/abs/2001.07437), the OpenImages30k benchmark on which MCTformer+ reports
PxAP 72.8 and pIoU 55.6.
"""
from collections import OrderedDict
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmengine.evaluator import BaseMetric
from mmengine.logging import MMLogger, print_log
from mmseg.registry import METRICS


def score_thresholds(interval: float = 0.001) -> np.ndarray:
    """The protocol's score thresholds ``0, interval, 2 interval, ... < 1`` (``np.arange``).

    Args:
        interval (float): Step (the protocol's ``cam_curve_interval``). Default: 0.001.

    Returns:
        np.ndarray: K float64 thresholds (K = 1000 for the default).
    """
    if not 0 < interval < 1:
        raise ValueError(f'cam_curve_interval must be in (0, 1), got {interval}')
    return np.arange(0, 1, interval)


def normalize_score_map(score_map: torch.Tensor) -> torch.Tensor:
    """Min-max normalise a map to [0, 1]: ``(x - min) / (max - min)``; constant or NaN -> 0.

    Args:
        score_map (torch.Tensor): Map (H, W).

    Returns:
        torch.Tensor: float32 map (H, W) with min 0 and max 1 (or all 0).
    """
    score_map = score_map.float()
    low, high = score_map.min(), score_map.max()
    if torch.isnan(score_map).any() or not bool(high > low):
        return torch.zeros_like(score_map)
    return (score_map - low) / (high - low)


def pixel_histograms(scores: np.ndarray, positive: np.ndarray, negative: np.ndarray,
                     thresholds: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    """Histograms of the scores of positive and of negative pixels over the threshold bins.

    Bins are ``[t_0, t_1), ..., [t_{K-1}, 1.0), [1.0, 2.0]`` for thresholds ``t_0 = 0 < ... <
    t_{K-1}``, so that the pixels with score ``>= t_k`` are the bins ``k..K``.

    Args:
        scores (np.ndarray): Scores in [0, 1], any shape.
        positive (np.ndarray): bool, same shape: GT object pixels.
        negative (np.ndarray): bool, same shape: GT background pixels (ignored pixels are in
            neither).
        thresholds (np.ndarray): K increasing thresholds starting at 0.

    Returns:
        tuple[np.ndarray, np.ndarray]: Counts (K + 1,) int64 of positive and negative pixels.
    """
    edges = np.append(thresholds, [1.0, 2.0])
    pos, _ = np.histogram(scores[positive], bins=edges)
    neg, _ = np.histogram(scores[negative], bins=edges)
    return pos.astype(np.int64), neg.astype(np.int64)


def pxap_and_piou(pos_hist: np.ndarray, neg_hist: np.ndarray,
                  thresholds: np.ndarray) -> Dict[str, float]:
    """PxAP and pIoU (in %) of pooled pixel histograms (see :class:`PxAPMetric`).

    Args:
        pos_hist (np.ndarray): (K + 1,) counts of positive pixels per bin.
        neg_hist (np.ndarray): (K + 1,) counts of negative pixels per bin.
        thresholds (np.ndarray): The K thresholds of the bins.

    Returns:
        dict: ``PxAP``, ``pIoU`` (in %) and ``pIoU_threshold`` (the threshold of the best IoU).
    """
    num_pos = int(pos_hist.sum())
    if num_pos == 0:
        raise ValueError('PxAPMetric: no positive (object) pixel in the evaluated set')
    # operating points from the highest threshold (1.0) down to t_0 = 0
    point_thr = np.append(thresholds, 1.0)[::-1]
    tp = np.cumsum(pos_hist[::-1]).astype(np.float64)
    fp = np.cumsum(neg_hist[::-1]).astype(np.float64)
    fn = num_pos - tp
    predicted = tp + fp
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = tp / num_pos
    recall_gain = np.diff(np.concatenate([[0.0], recall]))
    iou = tp / (tp + fp + fn)
    best = int(np.argmax(iou))
    return dict(
        PxAP=float((precision * recall_gain).sum() * 100),
        pIoU=float(iou[best] * 100),
        pIoU_threshold=float(point_thr[best]))


@METRICS.register_module()
class PxAPMetric(BaseMetric):
    """Pixel average precision (PxAP) and best pixel IoU (pIoU) of localisation maps.

    The WSOL protocol of Choe et al. (CVPR 2020) on OpenImages, for the maps of our model
    (``docs/conventions.md``): for every GT class ``c`` of a sample (OpenImages has one per
    image; a multi-label sample counts once per class), the score map is channel ``c + 1`` of
    ``seg_logits`` and the GT is ``gt_sem_seg``: object = ``c + 1``, ignored =
    ``ignore_index``, background = anything else (other classes included). The background
    channel 0 and the other class channels are not read.

    Per (image, class): the map is resized to ``size`` (224 x 224, ``interpolation``
    bicubic as the protocol's ``cv2.INTER_CUBIC``), then min-max normalised to [0, 1] (a
    constant map becomes 0); the GT is resized to ``size`` by nearest neighbour. The scores
    of the object and of the background pixels (ignored ones excluded) are counted into
    histograms over the bins ``[t_k, t_k+1)`` of the thresholds ``t_k = k * cam_curve_interval
    < 1`` (plus ``[1, 2]``), pooled over the whole split. At threshold ``t`` a pixel is
    predicted as object when its score is ``>= t``; with ``TP(t)``, ``FP(t)``, ``FN(t)`` the
    pooled pixel counts, ``P(t) = TP / (TP + FP)`` (0 when nothing is predicted) and
    ``R(t) = TP / (TP + FN)``:

    - ``PxAP = sum_j P(tau_j) * (R(tau_j) - R(tau_{j-1}))`` over the operating points
      ``tau_1 = 1.0 > tau_2 = t_{K-1} > ... > tau_{K+1} = t_0 = 0``, with ``R(tau_0) = 0``: the
      area under the pixel precision-recall curve (step rule of ``wsolevaluation``).
    - ``pIoU = max_j TP / (TP + FP + FN)`` over the same thresholds: the pixel IoU of the
      object class at the best single threshold for the whole split.

    Both are reported in % with the threshold of the best IoU (``pIoU_threshold``) and the
    number of evaluated (image, class) pairs. Only two histograms per image are kept
    (``2 (K + 1)`` integers), so the metric runs distributed without holding maps.

    Args:
        cam_curve_interval (float): Threshold step. Default: 0.001.
        size (tuple[int, int], optional): (H, W) at which maps and masks are compared; None
            keeps the GT's size (the map is resized to it). Default: (224, 224).
        interpolation (str): ``torch.nn.functional.interpolate`` mode of the maps.
            Default: ``'bicubic'``.
        ignore_index (int): GT value of ignored pixels. Default: 255.
        collect_device (str): Device used to collect results across ranks, 'cpu' or 'gpu'.
            Default: 'cpu'.
        prefix (str, optional): Prefix of the metric names. Default: 'wsol'.
    """
    default_prefix: Optional[str] = 'wsol'

    def __init__(self,
                 cam_curve_interval: float = 0.001,
                 size: Optional[Sequence[int]] = (224, 224),
                 interpolation: str = 'bicubic',
                 ignore_index: int = 255,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 **kwargs) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thresholds = score_thresholds(cam_curve_interval)
        self.cam_curve_interval = cam_curve_interval
        if size is not None and (len(size) != 2 or min(int(s) for s in size) < 1):
            raise ValueError(f'PxAPMetric: size must be (H, W) with positive sides or None, '
                             f'got {size!r}')
        self.size = None if size is None else (int(size[0]), int(size[1]))
        if interpolation not in ('nearest', 'bilinear', 'bicubic', 'area'):
            raise ValueError(f'PxAPMetric: interpolation must be nearest, bilinear, bicubic or '
                             f'area, got {interpolation!r}')
        self.interpolation = interpolation
        self.ignore_index = ignore_index

    def _resize_map(self, score_map: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
        if tuple(score_map.shape) == size:
            return score_map.float()
        kwargs = {} if self.interpolation in ('nearest', 'area') else dict(align_corners=False)
        return F.interpolate(score_map[None, None].float(), size, mode=self.interpolation,
                             **kwargs)[0, 0]

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Accumulate the two (K + 1,) histograms of a sample's (image, GT class) pairs.

        Args:
            data_batch (dict): A batch from the dataloader (unused).
            data_samples (Sequence[dict]): Model outputs as dicts with ``seg_logits`` (data
                (C + 1, H, W)), ``gt_sem_seg`` (data (1, H', W')) and ``gt_class_labels`` (C,).
        """
        for data_sample in data_samples:
            name = data_sample.get('img_path')
            for key in ('seg_logits', 'gt_sem_seg', 'gt_class_labels'):
                if key not in data_sample:
                    raise KeyError(f'PxAPMetric: data sample {name} has no {key!r}; it needs '
                                   'seg_logits, gt_sem_seg and gt_class_labels')
            logits = data_sample['seg_logits']['data'].detach().cpu()
            gt = data_sample['gt_sem_seg']['data'].detach().cpu().squeeze(0)
            labels = torch.as_tensor(data_sample['gt_class_labels']).flatten().cpu()
            if logits.dim() != 3 or logits.shape[0] != labels.numel() + 1:
                raise ValueError(f'PxAPMetric: {name}: seg_logits has shape '
                                 f'{tuple(logits.shape)}, expected (C + 1, H, W) with C = '
                                 f'{labels.numel()} (the length of gt_class_labels)')
            size = self.size or tuple(gt.shape)
            if tuple(gt.shape) != size:
                gt = F.interpolate(gt[None, None].float(), size, mode='nearest')[0, 0].long()
            gt = gt.numpy()
            valid = gt != self.ignore_index
            num_bins = len(self.thresholds) + 1
            pos_hist = np.zeros(num_bins, np.int64)
            neg_hist = np.zeros(num_bins, np.int64)
            classes = torch.nonzero(labels > 0).flatten().tolist()
            for c in classes:
                scores = normalize_score_map(self._resize_map(logits[c + 1], size)).numpy()
                positive = gt == c + 1
                pos, neg = pixel_histograms(scores, positive, valid & ~positive, self.thresholds)
                pos_hist += pos
                neg_hist += neg
            # one entry per sample: results are gathered and cut to the dataset size
            self.results.append((pos_hist, neg_hist, len(classes)))

    def compute_metrics(self, results: list) -> Dict[str, float]:
        """PxAP and pIoU of the pooled histograms.

        Args:
            results (list): ``(pos_hist, neg_hist, num_pairs)`` per sample: (K + 1,) arrays
                summed over the sample's GT classes, and their number.

        Returns:
            dict: ``PxAP``, ``pIoU`` (%), ``pIoU_threshold`` and ``num_pairs``.
        """
        logger: MMLogger = MMLogger.get_current_instance()
        num_pairs = int(sum(r[2] for r in results))
        if not num_pairs:
            raise ValueError('PxAPMetric: no (image, class) pair was evaluated (no sample had '
                             'a GT class)')
        pos_hist = np.sum([r[0] for r in results], axis=0)
        neg_hist = np.sum([r[1] for r in results], axis=0)
        metrics = pxap_and_piou(pos_hist, neg_hist, self.thresholds)
        print_log(f'WSOL over {num_pairs} (image, class) pairs of {len(results)} images: '
                  f'PxAP {metrics["PxAP"]:.2f}, '
                  f'pIoU {metrics["pIoU"]:.2f} at threshold {metrics["pIoU_threshold"]:.3f}',
                  logger)
        return OrderedDict(
            PxAP=round(metrics['PxAP'], 2),
            pIoU=round(metrics['pIoU'], 2),
            pIoU_threshold=metrics['pIoU_threshold'],
            num_pairs=num_pairs)
