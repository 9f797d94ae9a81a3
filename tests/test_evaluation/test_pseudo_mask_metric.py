"""PseudoMaskMetric writes palette PNGs atomically and scores like IoUMetric."""
from unittest.mock import patch

import numpy as np
import pytest
import torch
from PIL import Image

from mmseg_mctformer.evaluation import PseudoMaskMetric


def _sample(name, pred, gt=None):
    s = dict(img_path=f'/data/{name}.jpg', pred_sem_seg=dict(data=torch.tensor(pred)[None]))
    if gt is not None:
        s['gt_sem_seg'] = dict(data=torch.tensor(gt)[None])
    return s


def test_writes_pngs_and_scores(tmp_path):
    metric = PseudoMaskMetric(output_dir=str(tmp_path))
    metric.dataset_meta = dict(classes=('background', 'a'), palette=[[0, 0, 0], [255, 0, 0]])
    metric.process({}, [_sample('x', [[0, 1], [1, 1]], [[0, 1], [0, 255]])])
    with Image.open(tmp_path / 'x.png') as im:
        assert im.mode == 'P' and np.array(im).tolist() == [[0, 1], [1, 1]]
        assert im.getpalette()[3:6] == [255, 0, 0]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]
    result = metric.compute_metrics(metric.results)
    assert result['mIoU'] == pytest.approx(50.0)  # bg 1/2, a 1/2


def test_format_only(tmp_path):
    metric = PseudoMaskMetric(output_dir=str(tmp_path), format_only=True)
    metric.dataset_meta = dict(classes=('background', 'a'))
    metric.process({}, [_sample('y', [[1]])])
    assert (tmp_path / 'y.png').is_file() and metric.results == []
    # evaluate() names the folder the masks went to, without mmengine's empty-results warning
    with patch(f'{PseudoMaskMetric.__module__}.print_log') as log, \
            patch('mmengine.evaluator.metric.print_log') as base_log:
        assert metric.evaluate(1) == {}
    assert log.call_args[0][0] == f'PseudoMaskMetric: wrote 1 masks to {tmp_path}'
    assert not base_log.called and metric.written == 0
    with pytest.raises(ValueError, match='output_dir'):
        PseudoMaskMetric(format_only=True)
    with pytest.raises(KeyError, match='gt_sem_seg'):
        scoring = PseudoMaskMetric()
        scoring.dataset_meta = dict(classes=('background', 'a'))
        scoring.process({}, [_sample('z', [[1]])])
