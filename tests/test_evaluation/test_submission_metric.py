"""SubmissionMetric: the VOC server's PNG layout and COCO's result JSON."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmseg.datasets import PascalVOCDataset
from mmseg.structures import SegDataSample
from PIL import Image

from mmseg_mctformer.datasets import COCOWSSSDataset
from mmseg_mctformer.evaluation import SubmissionMetric
from mmseg_mctformer.evaluation.metrics.submission_metric import coco_image_id, rle_encode


def _sample(img_path, label):
    s = SegDataSample(metainfo=dict(img_path=img_path))
    s.pred_sem_seg = PixelData(data=torch.tensor(label, dtype=torch.long)[None])
    return s.to_dict()


def test_rle_encode_matches_pycocotools():
    # pycocotools 2.0.11 mask.encode of the same masks (recorded outputs)
    small = np.zeros((3, 4), np.uint8)
    small[1, 2] = small[2, 3] = 1
    assert rle_encode(small) == {'size': [3, 4], 'counts': '7130'}
    assert rle_encode(np.array([[0, 1], [1, 1]]))['counts'] == '13'
    assert rle_encode(np.ones((2, 2)))['counts'] == '04'  # starts with an empty run of zeros
    box = np.zeros((500, 375), np.uint8)
    box[100:400, 50:300] = 1
    assert rle_encode(box)['counts'] == '\\`h0\\9X6' + '0' * 497 + 'h`T1'


def test_voc_layout_indexed_pngs_with_the_palette(tmp_path):
    metric = SubmissionMetric(output_dir=str(tmp_path), server='voc')
    metric.dataset_meta = dict(PascalVOCDataset.METAINFO)
    label = [[0, 15, 15], [20, 0, 1]]
    metric.process({}, [_sample('/x/JPEGImages/2008_000001.jpg', label)])
    assert metric.evaluate(1) == {}
    path = tmp_path / 'results/VOC2012/Segmentation/comp6_test_cls/2008_000001.png'
    with Image.open(path) as im:
        assert im.mode == 'P'
        assert np.array(im).tolist() == label
        palette = np.array(im.getpalette()[:21 * 3]).reshape(21, 3)
    assert palette.tolist() == [list(c) for c in PascalVOCDataset.METAINFO['palette']]
    assert palette[15].tolist() == [192, 128, 128]  # person
    with pytest.raises(ValueError, match="unknown server 'ade'.*'coco', 'voc'"):
        SubmissionMetric(output_dir=str(tmp_path), server='ade')


def test_coco_result_json(tmp_path):
    metric = SubmissionMetric(output_dir=str(tmp_path), server='coco')
    metric.dataset_meta = dict(COCOWSSSDataset.METAINFO)
    # label 1 = person (category 1), label 80 = toothbrush (category 90)
    metric.process({}, [_sample('d/COCO_val2014_000000000042.jpg', [[0, 1], [80, 80]])])
    metric.evaluate(1)
    with open(osp.join(tmp_path, 'results', 'coco_seg_results.json')) as f:
        results = json.load(f)
    assert [(r['image_id'], r['category_id']) for r in results] == [(42, 1), (42, 90)]
    assert results[1]['segmentation'] == rle_encode(np.array([[0, 0], [1, 1]]))
    with pytest.raises(ValueError, match='no image id.*abc.jpg'):
        coco_image_id('abc.jpg')
