import math
from typing import Sequence

import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from mmseg_mctformer.evaluation import (
    DEFAULT_THRESHOLDS,
    SeedMetric,
    stacked_intersect_and_union,
)
from mmseg_mctformer.evaluation.metrics.seed_metric import first_peak
from mmseg_mctformer.models.utils.seed import seed_labels

CLASSES = ('background', 'a', 'b')


def _sample(maps, gt, bg=0.3):
    maps = torch.tensor(maps, dtype=torch.float32)
    logits = torch.cat([torch.full_like(maps[:1], bg), maps])
    s = SegDataSample()
    s.seg_logits = PixelData(data=logits)
    s.gt_sem_seg = PixelData(data=torch.tensor(gt, dtype=torch.long)[None])
    return s.to_dict()


# Image 1 (2 x 3); GT pixel (1, 1) is ignored.
IMG1 = _sample([[[0.9, 0.6, 0.2], [0.1, 0.0, 0.4]],
                [[0.1, 0.7, 0.3], [0.05, 0.0, 0.35]]],
               [[1, 2, 0], [0, 255, 1]])
# Image 2 (1 x 2).
IMG2 = _sample([[[0.6, 0.3]], [[0.2, 0.0]]], [[1, 2]])


def threshold_seg_logits(seg_logits: torch.Tensor,
                         thresholds: Sequence[float]) -> torch.Tensor:
    """Seed masks of one image for several background thresholds at once.

    :func:`~mmseg_mctformer.models.utils.seed_labels` of ``seg_logits[1:]`` (every class kept):
    channel 0 of ``seg_logits`` is ignored, ties go to the background.

    Args:
        seg_logits (torch.Tensor): Maps of shape (C + 1, H, W); channel 0 is ignored, channels
            1..C are the class maps.
        thresholds (Sequence[float]): T background thresholds.

    Returns:
        torch.Tensor: Long labels of shape (T, H, W), 0 = background, c + 1 = class c.
    """
    if seg_logits.dim() != 3 or seg_logits.shape[0] < 2:
        raise ValueError('seg_logits must have shape (C + 1, H, W) with C >= 1, got '
                         f'{tuple(seg_logits.shape)}')
    return seed_labels(seg_logits[1:], list(thresholds))


def test_threshold_seg_logits_ties_go_to_background():
    logits = torch.tensor([[[9.0, 9.0, 9.0]],
                           [[0.5, 0.2, 0.0]],
                           [[0.1, 0.7, 0.0]]])
    out = threshold_seg_logits(logits, [0.0, 0.5, 0.7])
    assert out.tolist() == [[[1, 2, 0]], [[0, 2, 0]], [[0, 0, 0]]]
    with pytest.raises(ValueError, match=r'\(C \+ 1, H, W\)'):
        threshold_seg_logits(torch.zeros(1, 2, 2), [0.1])


def test_stacked_intersect_and_union_matches_per_threshold_counts():
    preds = torch.tensor([[[1, 2], [0, 0]], [[0, 0], [0, 2]]])
    label = torch.tensor([[1, 1], [255, 2]])
    inter, union, pred, gt = stacked_intersect_and_union(preds, label, 3)
    assert inter.tolist() == [[0, 1, 0], [0, 0, 1]]
    assert pred.tolist() == [[1, 1, 1], [2, 0, 1]]
    assert gt.tolist() == [[0, 2, 1], [0, 2, 1]]
    assert union.tolist() == [[1, 2, 2], [2, 2, 1]]
    with pytest.raises(ValueError, match='does not match'):
        stacked_intersect_and_union(preds, label[:1], 3)
    with pytest.raises(ValueError, match='outside 0..2'):
        stacked_intersect_and_union(preds, torch.tensor([[1, 7], [0, 0]]), 3)


def _metric(**kwargs):
    metric = SeedMetric(**kwargs)
    metric.dataset_meta = dict(classes=CLASSES)
    return metric


def test_seed_metric_one_image_sweep():
    metric = _metric(thresholds=[0.0, 0.25, 0.5])
    metric.process({}, [IMG1])
    res = metric.evaluate(1)
    assert res['seed/mIoU_per_threshold'] == {'0.00': 38.89, '0.25': 66.67, '0.50': 72.22}
    assert res['seed/mIoU'] == 72.22
    assert res['seed/best_threshold'] == 0.5
    assert res['seed/IoU_per_class'] == {'background': 66.67, 'a': 50.0, 'b': 100.0}
    assert res['seed/FP'] == pytest.approx(11.11)
    assert res['seed/FN'] == pytest.approx(16.67)
    assert res['seed/aAcc'] == 80.0
    # background: 2 of 3 predicted pixels right, both GT pixels found; 'a': 1 of 1, 1 of 2
    assert res['seed/precision_per_class'] == {'background': 66.67, 'a': 100.0, 'b': 100.0}
    assert res['seed/recall_per_class'] == {'background': 100.0, 'a': 50.0, 'b': 100.0}
    assert res['seed/precision'] == pytest.approx(88.89)
    assert res['seed/recall'] == pytest.approx(83.33)


def test_seed_metric_accumulates_images():
    metric = _metric(thresholds=[0.0, 0.25, 0.5], prefix='s')
    metric.process({}, [IMG1])
    metric.process({}, [IMG2])
    assert all(a.shape == (3, 3) for a in metric.results[0])  # only small arrays are kept
    res = metric.evaluate(2)
    assert res['s/mIoU_per_threshold'] == {'0.00': 31.11, '0.25': 52.78, '0.50': 55.56}
    assert res['s/best_threshold'] == 0.5
    assert res['s/FP'] == pytest.approx(16.67)
    assert res['s/FN'] == pytest.approx(27.78)


def test_seed_metric_absent_class_is_nan_and_excluded():
    metric = _metric(thresholds=[0.5])
    metric.process({}, [_sample([[[0.9, 0.0]], [[0.0, 0.0]]], [[1, 0]])])
    res = metric.evaluate(1)
    assert math.isnan(res['seed/IoU_per_class']['b'])
    assert res['seed/mIoU'] == 100.0
    assert res['seed/FP'] == 0.0 and res['seed/FN'] == 0.0
    assert math.isnan(res['seed/precision_per_class']['b'])
    assert res['seed/precision'] == 100.0 and res['seed/recall'] == 100.0


def test_seed_metric_errors():
    assert len(DEFAULT_THRESHOLDS) == 20 and DEFAULT_THRESHOLDS[-1] == 0.95
    with pytest.raises(ValueError, match='strictly increasing'):
        SeedMetric(thresholds=[0.5, 0.1])
    with pytest.raises(ValueError, match='at least one'):
        SeedMetric(thresholds=[])
    metric = SeedMetric()
    metric.dataset_meta = dict(classes=('background', 'a'))
    with pytest.raises(ValueError, match='3 channels, expected 2'):
        metric.process({}, [IMG1])
    with pytest.raises(KeyError, match='gt_sem_seg'):
        metric.process({}, [{'seg_logits': IMG1['seg_logits']}])


def test_seed_metric_authors_sweep_preset():
    metric = SeedMetric(thresholds='authors')
    assert len(metric.thresholds) == 60
    assert metric.thresholds[0] == 0.0 and metric.thresholds[-1] == 0.59
    assert metric.thresholds[37] == 0.37
    with pytest.raises(ValueError, match="unknown thresholds preset 'paper'"):
        SeedMetric(thresholds='paper')


def test_seed_metric_reports_both_conventions_for_an_absent_class():
    """Class b occurs in neither labels nor seeds: mmseg leaves it out (100), the authors'
    script counts it as IoU 0 over all K = 3 classes (200 / 3)."""
    metric = _metric(thresholds=[0.5])
    metric.process({}, [_sample([[[0.9, 0.0]], [[0.0, 0.0]]], [[1, 0]])])
    res = metric.evaluate(1)
    assert res['seed/mIoU'] == 100.0
    assert res['seed/mIoU_absent_as_0'] == pytest.approx(66.67)
    assert res['seed/best_threshold_absent_as_0'] == 0.5
    assert res['seed/absent_classes'] == ['b']


def test_seed_metric_conventions_agree_when_every_class_occurs():
    metric = _metric(thresholds=[0.0, 0.25, 0.5])
    metric.process({}, [IMG1])
    res = metric.evaluate(1)
    assert res['seed/mIoU_absent_as_0'] == res['seed/mIoU'] == 72.22
    assert res['seed/best_threshold_absent_as_0'] == res['seed/best_threshold']
    assert res['seed/absent_classes'] == []


def test_seed_metric_reports_the_authors_stopping_rule_beside_the_global_best():
    """Maps 0.2 / 0.4 / 0.6 / 0.8 over GT a / bg / a / a (classes background, a): mIoU 37.5,
    25.0, 58.33, 33.33 at thresholds 0.1, 0.3, 0.5, 0.7. The authors' evaluation.py --curve
    stops at 0.3 (no improvement) and reports 37.5 at 0.1; the best of the sweep is 58.33 at 0.5."""
    metric = SeedMetric(thresholds=[0.1, 0.3, 0.5, 0.7])
    metric.dataset_meta = dict(classes=('background', 'a'))
    metric.process({}, [_sample([[[0.2, 0.4, 0.6, 0.8]]], [[1, 0, 1, 1]])])
    res = metric.evaluate(1)
    assert res['seed/mIoU_per_threshold'] == {'0.10': 37.5, '0.30': 25.0, '0.50': 58.33,
                                              '0.70': 33.33}
    assert (res['seed/mIoU_first_peak'], res['seed/threshold_first_peak']) == (37.5, 0.1)
    assert (res['seed/mIoU_absent_as_0'], res['seed/best_threshold_absent_as_0']) == (58.33, 0.5)


def test_first_peak_follows_the_authors_loop():
    assert first_peak([0.1, 0.2, 0.3]) == 2  # never stops: the last threshold
    assert first_peak([0.3, 0.3, 0.5]) == 0  # equal is no improvement
    assert first_peak([0.0, 0.4]) == 0  # their best starts at 0: a first 0 stops at once


def test_seed_metric_sweep_in_bounded_chunks_gives_the_same_areas(monkeypatch):
    """A large image is swept a few thresholds at a time (at most max_elements labels), with
    the areas of the one-pass sweep; an error names the image's file."""
    import mmseg_mctformer.evaluation.metrics.seed_metric as seed_metric
    torch.manual_seed(0)
    maps = torch.rand(2, 30, 40).tolist()
    gt = torch.randint(0, 3, (30, 40)).tolist()
    sample = dict(_sample(maps, gt), img_path='big.jpg')
    whole = _metric(thresholds=list(DEFAULT_THRESHOLDS))
    whole.process({}, [sample])
    chunk_sizes = []
    real = seed_metric.seed_labels

    def recording(maps, thresholds, kept=None):
        labels = real(maps, thresholds, kept)
        chunk_sizes.append(labels.numel())
        return labels

    monkeypatch.setattr(seed_metric, 'seed_labels', recording)
    bounded = _metric(thresholds=list(DEFAULT_THRESHOLDS), max_elements=3 * 30 * 40)
    bounded.process({}, [sample])
    assert max(chunk_sizes) <= 3 * 30 * 40 and len(chunk_sizes) == 7  # 20 = 6 x 3 + 2
    for a, b in zip(whole.results[0], bounded.results[0]):
        assert a.tolist() == b.tolist()
    chunk_sizes.clear()
    tiny = _metric(thresholds=list(DEFAULT_THRESHOLDS), max_elements=10)  # beyond 1 image
    tiny.process({}, [sample])
    assert chunk_sizes == [30 * 40] * 20
    bad = dict(sample, gt_sem_seg=dict(data=torch.zeros(1, 5, 5, dtype=torch.long)))
    with pytest.raises(ValueError, match=r'big.jpg \(maps \(3, 30, 40\), 20 thresholds\).*'
                       'does not match'):
        bounded.process({}, [bad])
    with pytest.raises(ValueError, match='max_elements'):
        SeedMetric(max_elements=0)
