"""CRFIoUMetric: mIoU with and without a dense CRF, serial and in worker processes."""
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.evaluation import CRFIoUMetric

CLASSES = ('background', 'a')


def _sample(tmp_path, name):
    """A 24 x 24 image, left half black, right half white; GT = the white half is class 1.

    The logits say class 1 on the right half except a 4 x 4 hole, and on a 4 x 4 patch of the
    left half, both weakly (0.6 vs 0.4): the colour edge lets the CRF fix both.
    """
    image = np.zeros((24, 24, 3), np.uint8)
    image[:, 12:] = 255
    path = str(tmp_path / f'{name}.png')
    Image.fromarray(image).save(path)
    gt = np.zeros((24, 24), np.int64)
    gt[:, 12:] = 1
    prob1 = np.where(gt == 1, 0.6, 0.4)
    prob1[10:14, 16:20] = 0.4
    prob1[4:8, 2:6] = 0.6
    logits = torch.from_numpy(np.log(np.stack([1 - prob1, prob1])).astype(np.float32))
    s = SegDataSample(metainfo=dict(img_path=path))
    s.seg_logits = PixelData(data=logits)
    s.pred_sem_seg = PixelData(data=logits.argmax(0, keepdim=True))
    s.gt_sem_seg = PixelData(data=torch.from_numpy(gt)[None])
    return s.to_dict()


@pytest.mark.parametrize('num_workers', [0, 2])
def test_crf_iou_metric_side_by_side(tmp_path, num_workers):
    metric = CRFIoUMetric(num_workers=num_workers)
    metric.dataset_meta = dict(classes=CLASSES)
    metric.process({}, [_sample(tmp_path, 'x'), _sample(tmp_path, 'y')])
    res = metric.evaluate(2)
    # without CRF: 16 + 16 wrong pixels of 576 per image; IoU 272 / 304 for both classes
    assert res['mIoU'] == pytest.approx(100 * 272 / 304, abs=0.01)
    assert res['aAcc'] == pytest.approx(100 * (576 - 32) / 576, abs=0.01)
    assert res['crf/mIoU'] == 100.0 and res['crf/aAcc'] == 100.0


def test_crf_iou_metric_errors(tmp_path):
    with pytest.raises(ValueError, match='num_workers must be >= 0, got -1'):
        CRFIoUMetric(num_workers=-1)
    metric = CRFIoUMetric()
    metric.dataset_meta = dict(classes=CLASSES)
    sample = _sample(tmp_path, 'x')
    del sample['seg_logits']
    with pytest.raises(KeyError, match="x.png has no 'seg_logits'"):
        metric.process({}, [sample])
