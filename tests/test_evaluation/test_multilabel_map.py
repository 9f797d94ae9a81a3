import math

import pytest
import torch
from mmseg.structures import SegDataSample

from mmseg_mctformer.evaluation import MultiLabelMAPMetric


def _sample(scores, labels):
    s = SegDataSample()
    s.set_data(dict(pred_class_scores=torch.tensor(scores),
                    gt_class_labels=torch.tensor(labels, dtype=torch.long)))
    return s.to_dict()


def test_multilabel_map_hand_computed():
    metric = MultiLabelMAPMetric()
    metric.dataset_meta = dict(classes=('background', 'a', 'b', 'c'))
    # a: sorted scores 0.9(+) 0.8(-) 0.1(+) -> AP = (1 + 2/3) / 2; b: 0.7(+) first -> AP = 1;
    # c: never present -> nan, excluded from the mean.
    metric.process({}, [_sample([0.9, 0.2, 0.5], [1, 0, 0]),
                        _sample([0.8, 0.7, 0.1], [0, 1, 0])])
    metric.process({}, [_sample([0.1, 0.4, 0.3], [1, 0, 0])])
    res = metric.evaluate(3)
    assert res['cls/AP_per_class']['a'] == pytest.approx(83.33)
    assert res['cls/AP_per_class']['b'] == 100.0
    assert math.isnan(res['cls/AP_per_class']['c'])
    assert res['cls/mAP'] == pytest.approx(91.67)
    # a is in 2 of the 3 images, b in 1 (c has no positive and is left out): random scores
    assert res['cls/label_rate'] == pytest.approx(50.0)


def test_multilabel_map_errors():
    metric = MultiLabelMAPMetric(prefix='x')
    with pytest.raises(KeyError, match='gt_class_labels'):
        metric.process({}, [{'pred_class_scores': torch.zeros(2)}])
    with pytest.raises(ValueError, match=r'\(2,\) and \(3,\)'):
        metric.process({}, [_sample([0.1, 0.2], [1, 0, 0])])
